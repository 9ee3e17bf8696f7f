"""Blood-pressure pairs ("BP >= 160/100 mmHg"): one threshold for systolic and one for diastolic.

A pair is two comparisons joined by a logic the text does not spell out; it reads soundly only where
usage fixes it (issue 11, part 4):

- an exclusion with ``>`` / ``>=`` ("BP >= 160/100") excludes when EITHER value reaches its threshold
  (systolic >= 160 OR diastolic >= 100): that is how hypertension thresholds are defined;
- an inclusion with ``<`` / ``<=`` ("BP < 140/90") requires BOTH values below (controlled pressure).

Every other combination ("BP > 140/90" as an inclusion, "< 90/60" as an exclusion) is left unread:
for hypotension or hypertension as an inclusion, either reading occurs in protocols. Only a text with
exactly one number pair, next to a blood-pressure mention, is read; the words around it go through the
same checks as any anchored comparison (:func:`eligibility.parse.anchored.anchored_reading`).
"""

from __future__ import annotations

from lark import Token

from .. import nodes as n
from ..concepts import Vocabulary
from .lexer import tokenize

__all__ = ["bp_pair_reading"]

_EITHER = {"exclusion": (">", ">=")}
_BOTH = {"inclusion": ("<", "<=")}
_BP_WORDS = {"systolic", "diastolic", "sbp", "dbp", "systolic_bp", "diastolic_bp"}


def _pair_at(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """(first, last) token index of ``LAB(blood_pressure) CMP NUMBER SLASH NUMBER [UNIT]`` whose CMP is at i."""
    if i + 3 >= len(tokens) or i == 0:
        return None
    if [t.type for t in tokens[i : i + 4]] != ["CMP", "NUMBER", "SLASH", "NUMBER"]:
        return None
    first = i - 1
    mention = tokens[first]
    if mention.type != "LAB" or mention.value not in ("blood_pressure", "diastolic_bp"):
        return None
    # "systolic/diastolic BP", "systolic/diastolic blood pressure", "SBP/DBP": the words name the pair
    before = tokens[max(first - 3, 0) : first]
    named = [str(t.value).lower() for t in before]
    if mention.value == "diastolic_bp":
        if first < 2 or tokens[first - 1].type != "SLASH" or named[-2] not in ("systolic", "systolic_bp"):
            return None
        first -= 2
    elif first >= 3 and tokens[first - 2].type == "SLASH" and {named[0], named[2]} <= _BP_WORDS:
        first -= 3
    last = i + 3
    if last + 1 < len(tokens) and tokens[last + 1].type == "UNIT":
        if tokens[last + 1].value != "mmHg":
            return None
        last += 1
    return first, last


def bp_pair_reading(text: str, kind: str, vocab: Vocabulary) -> n.Node | None:
    """The reading of a criterion whose one comparison is a blood-pressure pair, or None."""
    from .anchored import _hazard, _start, _substantive  # the anchored reading's checks of the rest

    if text.count("/") == 0:
        return None
    tokens = tokenize(text, vocab)
    slashes = [i for i, t in enumerate(tokens) if t.type == "SLASH" and 0 < i < len(tokens) - 1
               and tokens[i - 1].type == tokens[i + 1].type == "NUMBER"]  # fmt: skip
    if len(slashes) != 1 or sum(t.type == "NUMBER" for t in tokens) != 2:
        return None
    found = _pair_at(tokens, slashes[0] - 2)
    if found is None:
        return None
    first, last = found
    cmp_index = slashes[0] - 2
    op = str(tokens[cmp_index].value)
    systolic, diastolic = float(tokens[cmp_index + 1].value), float(tokens[cmp_index + 3].value)
    if not (50 <= systolic <= 300 and 20 <= diastolic <= 200 and diastolic < systolic):
        return None  # not a blood pressure pair (a ratio, a date, a typo)
    if op in _EITHER.get(kind, ()):
        joined: type[n.Or] | type[n.And] = n.Or
    elif op in _BOTH.get(kind, ()):
        joined = n.And
    else:
        return None
    start, end = _start(tokens[first]), tokens[last].end_pos or len(text)
    sbp = n.Lab(concept="systolic_bp", op=op, value=systolic, unit="mmHg")
    dbp = n.Lab(concept="diastolic_bp", op=op, value=diastolic, unit="mmHg")
    pair = joined(items=(sbp, dbp), span=(start, end))
    rest = [(a, b) for a, b in ((0, start), (end, len(text))) if b > a]
    outside = [t for t in tokens if not start <= _start(t) < end]
    if _hazard(text, rest, outside) is not None:
        return None
    if not _substantive(text, rest, outside):
        return pair
    pieces = [text[a:b].strip(" \t,;:.()") for a, b in rest]
    left = " … ".join(p for p in pieces if p)
    unread = n.Unparsed(text=left, reason="the words around the blood-pressure pair were not read",
                        span=(rest[0][0], rest[-1][1]))  # fmt: skip
    return n.And(items=(pair, unread), span=(0, len(text)))
