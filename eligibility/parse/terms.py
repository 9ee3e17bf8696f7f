"""Words the vocabulary does not know, read as a condition named by an ICD-10-CM title.

Runs after the scanner: a run of unknown words (``WORD``, with qualifier words and numbers inside
it, and filler words between) is looked up in the terminology index (``eligibility.terminology``),
longest span first. A span that names one condition becomes a ``COND`` token of a derived concept
(``Vocabulary.derive_condition``), open world, whose display names the source. A span that names
codes in unrelated places becomes an ``AMBIGUOUS`` token, which the grammar accepts nowhere, so the
clause is unread with that reason instead of guessed.

Curated concepts keep precedence: only words the scanner left unknown are looked up. A span is never
part of a word: not inside a hyphenated word ("non-Hodgkin lymphoma" is not "Hodgkin lymphoma"),
not after "non".
"""

from __future__ import annotations

import re

from lark import Token

from ..concepts import Vocabulary
from ..terminology import TermMatch, default_terminology

_RUN = frozenset({"WORD", "QUAL", "NUMBER"})
_EDGE = frozenset({"WORD", "QUAL"})
# Between two tokens of a run only spaces, hyphens, apostrophes and filler words may stand.
_GAP = re.compile(r"[A-Za-z\s'’-]*")
_MAX_SPAN = 8


def resolve_conditions(tokens: list[Token], text: str, vocab: Vocabulary) -> list[Token]:
    """The tokens with unknown-word runs that name an ICD-10-CM condition replaced by one token."""
    if not any(t.type == "WORD" for t in tokens):
        return tokens
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        if tokens[i].type not in _RUN:
            out.append(tokens[i])
            i += 1
            continue
        j = i + 1
        while (
            j < len(tokens)
            and tokens[j].type in _RUN
            and _GAP.fullmatch(text[tokens[j - 1].end_pos or 0 : tokens[j].start_pos or 0])
        ):
            j += 1
        out.extend(_resolve_run(tokens[i:j], out[-1] if out else None, text, vocab))
        i = j
    return _widen_curated(out, text, vocab)


def _widen_curated(tokens: list[Token], text: str, vocab: Vocabulary) -> list[Token]:
    """A curated condition that ends a longer ICD-10-CM title is that title: "chronic obstructive pulmonary
    disease" is J44, not "pulmonary disease" with two unknown words before it (which left the criterion unread,
    or, beside its abbreviation, read as two conditions). Only unknown words (and qualifier words among them)
    may widen it, and only into one unambiguous title; the curated concept stands wherever none is found."""
    terms = default_terminology()
    out = list(tokens)
    c = 0
    while c < len(out):
        cond = out[c]
        if cond.type != "COND" or str(cond.value).startswith("icd10cm") or c == 0 or out[c - 1].type not in _EDGE:
            c += 1
            continue
        first = c
        while (
            first > 0
            and c - first < _MAX_SPAN
            and out[first - 1].type in _EDGE
            and terms.may_name(str(out[first - 1]))
            and _GAP.fullmatch(text[out[first - 1].end_pos or 0 : out[first].start_pos or 0])
            and terms.may_name(text[out[first - 1].end_pos or 0 : out[first].start_pos or 0].strip(" -'’") or "of")
        ):
            first -= 1
        stop = cond.end_pos or 0
        for k in range(first, c):
            if all(t.type != "WORD" for t in out[k:c]):
                break  # qualifiers alone ("chronic kidney disease") are read as the curated concept and the qualifier
            start = out[k].start_pos or 0
            if not _whole(text, start, stop, out[k - 1] if k else None):
                continue
            match = terms.lookup(text[start:stop])
            if match is None or match.ambiguous:
                continue
            out[k : c + 1] = [_token(match, text[start:stop], start, stop, vocab)]
            c = k
            break
        c += 1
    return out


def _resolve_run(run: list[Token], before: Token | None, text: str, vocab: Vocabulary) -> list[Token]:
    if not any(t.type == "WORD" for t in run):
        return run
    terms = default_terminology()
    known = [terms.may_name(str(t)) for t in run]
    for a in range(1, len(run)):  # a filler word between two tokens must be known too
        gap = text[run[a - 1].end_pos or 0 : run[a].start_pos or 0]
        if gap.strip(" -'’") and not terms.may_name(gap):
            known[a] = False
    out: list[Token] = []
    k = 0
    while k < len(run):
        if not known[k]:
            out.append(run[k])
            k += 1
            continue
        limit = k
        while limit < len(run) and limit < k + _MAX_SPAN and (limit == k or known[limit]):
            limit += 1
        for end in range(limit, k, -1):
            span = run[k:end]
            if span[0].type not in _EDGE or span[-1].type not in _EDGE or all(t.type != "WORD" for t in span):
                continue
            start, stop = span[0].start_pos or 0, span[-1].end_pos or 0
            prev = out[-1] if out else before
            if not _whole(text, start, stop, prev):
                continue
            match = terms.lookup(text[start:stop])
            if match is None:
                continue
            out.append(_token(match, text[start:stop], start, stop, vocab))
            k = end
            break
        else:
            out.append(run[k])
            k += 1
    return out


# Filler words (dropped by the scanner) that make a condition name into something else when they stand
# next to it: "tuberculosis test", "elevated ... levels", "cough screening".
_HAZARDS = frozenset(
    {"test", "tests", "testing", "result", "results", "level", "levels", "value", "values", "laboratory", "lab",
     "measured", "serum", "plasma", "blood", "elevated", "elevation", "increase", "screening", "treatment",
     "treated", "taking", "take", "takes", "receiving", "received", "use", "using", "on", "by"}
)  # fmt: skip
_NEIGHBOUR = re.compile(r"[A-Za-z]+")


def _whole(text: str, start: int, stop: int, prev: Token | None) -> bool:
    """Whether text[start:stop] stands alone as a condition name: not glued by a hyphen or slash to a word,
    not after 'non', and without a filler word beside it that makes it a test, a level or a treatment."""
    if prev is not None and prev.type == "NOT" and str(prev).lower() == "non":
        return False
    left = text[:start].rstrip()
    right = text[stop:].lstrip()
    # a slash beside a name of several words is a list ("spinal cord compression/brain metastases"); beside one
    # word it may be part of a compound ("and/or", "ER/PR"), so it is refused there
    several = " " in text[start:stop].strip()
    if left.endswith(("-", "‐")) or right.startswith(("-", "‐")):
        return False
    if not several and (left.endswith("/") or right.startswith("/")):
        return False
    beside = [m.group(0).lower() for m in _NEIGHBOUR.finditer(left[-24:])][-2:]
    beside += [m.group(0).lower() for m in _NEIGHBOUR.finditer(right[:24])][:2]
    return not any(w in _HAZARDS for w in beside)


def _token(match: TermMatch, phrase: str, start: int, stop: int, vocab: Vocabulary) -> Token:
    if match.ambiguous:
        value = f"'{phrase}' ({match.source.removesuffix(', and descendants')})"
        kind = "AMBIGUOUS"
    else:
        value, kind = vocab.derive_condition(match.codes, match.source), "COND"
    return Token(kind, value, start_pos=start, end_pos=stop, line=1, column=start + 1, end_line=1, end_column=stop + 1)
