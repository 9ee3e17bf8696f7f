"""A heading whose words are a frame for each item: "History of:", "Diagnosis of one of the following:",
"Treatment with any of the following agents within 28 days of screening:".

Such a heading is a sentence with a gap that each item fills: the author wrote "History of" once instead of
before every item. Each item is read with the heading's words around it ("History of glaucoma", "Treatment
with rituximab within 28 days of screening"), so the frame's time window or "history of" applies to the item
instead of staying an unread heading.

The composed text is kept only when it reads in full (no unread part): where it does not, the item keeps the
reading it had under the heading before (:mod:`eligibility.parse.leadins`). It is never tried where the words
around the gap and the item each carry a time window (two windows on one item are not read by one frame), nor
for an item with a colon or a negation of its own. The noun after "the following" ("ocular conditions",
"agents") names the kind of the items and is dropped: the items are the list it introduces.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from .. import nodes as n
from ..concepts import Vocabulary
from ..io.headers import sections_data
from .lexer import tokenize

__all__ = ["frame_of", "framed"]


@cache
def _gap_re() -> re.Pattern[str]:
    """The gap: "[any of] the following [noun ...]", the noun ending at a frame stop word (data)."""
    stops = "|".join(re.escape(w) for w in sections_data()["lead_ins"]["frame_stops"])
    noun = rf"(?!(?:{stops})\b)[a-z][\w-]*"
    return re.compile(
        r"\b(?:(?:any|one|all|each|either|at\s+least\s+one|one\s+or\s+more)\s+of\s+)?the\s+following"
        rf"(?:\s+{noun}(?:\s+(?:and|or|and/or)\s+{noun})?){{0,3}}",
        re.I,
    )


_TAIL_RE = re.compile(r"\b(?:of|with)$", re.I)
_TIME_TYPES = frozenset({"WITHIN", "TIMEUNIT", "PRIOR", "DURATION", "FOR", "CONSEC"})
_NEGATION_TYPES = frozenset({"NOT", "EXCEPT"})


def frame_of(heading: str) -> str | None:
    """The heading as a frame with one ``{}`` gap, or None when it is not one (module docstring)."""
    text = heading.strip().rstrip(":;,. ").strip()
    gaps = list(_gap_re().finditer(text))
    if len(gaps) == 1:
        gap = gaps[0]
        frame = f"{text[: gap.start()]}{{}}{text[gap.end() :]}"
    elif not gaps and _TAIL_RE.search(text):
        frame = f"{text} {{}}"
    else:
        return None
    if not frame.replace("{}", "").strip():
        return None
    return re.sub(r"\s+", " ", frame).strip()


def _types(text: str, vocab: Vocabulary) -> set[str]:
    return {t.type for t in tokenize(text, vocab)}


def _full(rule: n.Node) -> bool:
    return not any(isinstance(x, n.Unparsed | n.Measurement) for x in n.walk(rule))


def framed(
    frame: str, item: str, kind: str, vocab: Vocabulary, parse: Callable[[str, str, Vocabulary], n.Node]
) -> n.Node | None:
    """The item read inside the frame when that reads in full, else None."""
    body = item.strip().rstrip(".;,").strip()
    if not body or ":" in body:
        return None
    around, own = _types(frame.replace("{}", " "), vocab), _types(body, vocab)
    if own & _NEGATION_TYPES or (around & _TIME_TYPES and own & _TIME_TYPES):
        return None
    rule = parse(frame.replace("{}", body), kind, vocab)
    return n.strip_spans(rule) if _full(rule) else None
