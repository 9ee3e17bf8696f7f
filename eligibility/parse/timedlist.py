"""An "or" list with a time window at its end and an item the vocabulary does not know.

"Tacrolimus or pimecrolimus in the last 3 months": read item by item, the window sits on the unknown last item
alone, the known item before it is not trusted (the window may be its own too), and nothing is read. Here the
window is lifted off the end and each item is read both with it (the window over the whole list) and, for the
last item only, as written; the two readings stay as one Ambiguous, as the grammar keeps them for a list it
reads in full. An unknown item is an unknown part of the "or", so a known item on record in the window still
decides, and nothing is decided by the unknown one's absence.

Read only where nothing else may reach across the items: each item is a bare mention or unknown words (no
prefix such as "history of" or "no", no qualifier, no person), an unknown item holds no word that usually
attaches to what is near it ("of", "with", "-ing" words), no item after an unknown one is trusted (it may
finish a phrase the unknown one began: "alcohol or substance abuse"), and the window is only a window: a
number, a time unit, "prior to" and an anchor, nothing after it.
"""

from __future__ import annotations

from collections.abc import Callable

from lark import Token
from lark.exceptions import LarkError

from .. import nodes as n
from ..concepts import Vocabulary
from .transformer import NotUnderstood

__all__ = ["timed_list"]

_WINDOW_START = frozenset({"WITHIN", "FOR", "DURATION", "CONSEC"})
_WINDOW = _WINDOW_START | {"NUMBER", "TIMEUNIT", "PRIOR", "ANCHOR"}
_ITEM = frozenset({"WORD", "COND", "DRUG", "PROC"})
_MENTIONS = frozenset({"COND", "DRUG", "PROC"})
_REASON = "a modifier at one end of the list may apply to every item"

Strict = Callable[[list[Token], Vocabulary, str], n.Node]


def timed_list(
    text: str,
    pieces: list[list[Token]],
    seps: list[str],
    vocab: Vocabulary,
    kind: str,
    strict: Strict,
    modifier_words: Callable[[str], bool],
) -> n.Node | None:
    """The Ambiguous reading of an "or" list ending in a window (module docstring), or None where it does not
    apply. ``strict`` reads a token list in full or raises; ``modifier_words`` tells words that attach."""
    if (
        len(pieces) < 2
        or ("OR" not in seps and "ANDOR" not in seps)
        or any(s not in ("OR", "ANDOR", "COMMA") for s in seps)
    ):
        return None
    last = pieces[-1]
    at = next((k for k, t in enumerate(last) if t.type in _WINDOW_START), None)
    if not at or any(t.type not in _WINDOW for t in last[at:]):
        return None
    window, heads = last[at:], [*pieces[:-1], last[:at]]
    if any(t.type not in _ITEM for head in heads for t in head):
        return None
    wide: list[n.Node] = []
    narrow: list[n.Node] = []
    unknown_before = False
    for i, head in enumerate(heads):
        chunk = _text(text, head)
        with_window = _read(head + window, f"{chunk} {_text(text, window)}", vocab, kind, strict)
        alone = with_window if i == len(heads) - 1 else _read(head, chunk, vocab, kind, strict)
        if isinstance(with_window, n.Unparsed):
            if any(t.type in _MENTIONS for t in head) or modifier_words(chunk):
                return None  # a known word inside an unread item, or words that attach: not a plain unknown item
            unknown_before = True
        elif unknown_before:
            return None
        wide.append(with_window)
        narrow.append(alone)
    if not any(isinstance(x, n.Unparsed) for x in wide) or all(isinstance(x, n.Unparsed) for x in wide):
        return None  # read in full elsewhere, or nothing to read
    span = (0, len(text))
    both = (n.Or(items=tuple(wide), span=span), n.Or(items=tuple(narrow), span=span))
    return n.Ambiguous(readings=both, reason=_REASON, span=span)


def _text(text: str, tokens: list[Token]) -> str:
    return text[tokens[0].start_pos or 0 : tokens[-1].end_pos or 0]


def _read(tokens: list[Token], words: str, vocab: Vocabulary, kind: str, strict: Strict) -> n.Node:
    """The tokens read in full, else Unparsed with the words they stand for (no span: they need not be
    contiguous in the text)."""
    try:
        return n.strip_spans(strict(tokens, vocab, kind))
    except (NotUnderstood, LarkError) as exc:
        why = exc.reason if isinstance(exc, NotUnderstood) else "the grammar could not read it"
        return n.Unparsed(text=words, reason=why)
