"""A sound partial reading of criteria the grammar cannot read in full, anchored on their numeric comparisons.

Real criteria wrap their thresholds in prose ("Patients with a serum potassium level of 4.9 mEq/L or
higher", "Adequate hepatic function: AST and ALT <= 2.5 x ULN, total bilirubin <= 1.5 mg/dL"). The
comparison extractor finds the thresholds; this module decides whether each one is a *necessary
condition* of the criterion, in which case ``AND(comparisons..., Unparsed(rest))`` is a sound reading:
it is false exactly when a comparison is false, and never true while something is left unread.

A comparison is trusted only when nothing around it can change what it means. The words that can
(alternatives, exceptions, conditionals, negation, another time, another person, a change rather than a
level, a variant of the analyte) are data: ``anchor_hazards`` in ``data/lexicon.yaml``. Any of them, or a
condition / drug / procedure mention outside the comparisons (the comparison may define it, or be one of
its alternatives), leaves the criterion unread. The subject of a comparison must stand right before its
operator; a word glued in front of it ("systolic BP", "fasting glucose") makes it a raw
:class:`~eligibility.nodes.Measurement`, which is kept but always unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Token

from .. import nodes as n
from ..concepts import Vocabulary
from ..errors import UnitError
from ..extract import Comparison, extract_comparisons
from ..units import canonical_unit
from .lexer import lexicon_data, tokenize

__all__ = ["anchored_reading"]

# Token types that may change what a comparison outside them means.
_HAZARD_TYPES = frozenset(
    {
        "NOT",
        "EXCEPT",
        "IF",
        "HISTORY",
        "WITHIN",
        "PRIOR",
        "CONSEC",
        "DURATION",
        "FOR",
        "STABLE",
        "DOSE",
        "INCLUDING",
        "IE",
        "ETC",
        "QUAL",
        "COND",
        "DRUG",
        "PROC",
        "QLAB",
        "POSITIVE",
        "NEGATIVE",
        "NORMAL",
        "CURRENT",
        "OLDER",
        "YOUNGER",
        "PERSON",
    }
)
# Tokens that add nothing to a reading when left over.
_NEUTRAL_TYPES = frozenset(
    {"AND", "COMMA", "SEMI", "SLASH", "LPAR", "RPAR", "PUNCT", "SEXW", "AGE", "ANCHOR", "WORD"}
)  # WORDs are judged one by one against ``anchor_context``
# Words allowed between a lab's name and its operator: "potassium level of", "ECOG performance status of".
_GAP_WORDS = frozenset(
    {"level", "levels", "value", "values", "count", "concentration", "of", "is", "are", "must", "should", "be",
     "score", "status", "performance", "ps", "class", "scale", "the", "a", "an", "result", "measured", "at",
     "serum", "plasma", "blood", "total", "time", "screening", "enrollment", "enrolment", "inclusion", "entry",
     "study", "randomization", "randomisation", "registration", "visit"}
)  # fmt: skip
# The time of the screening itself, which is when the evaluator reads a lab anyway.
_NOW_ANCHORS = frozenset(
    {
        "screening",
        "enrollment",
        "enrolment",
        "inclusion",
        "study entry",
        "randomization",
        "randomisation",
        "registration",
    }
)
_LIST_SEPS = frozenset({"AND", "SLASH", "COMMA", "OR", "ANDOR"})
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9'’-]*")
_EG_RE = re.compile(r"\be\.\s?g\b|\bi\.\s?e\b", re.IGNORECASE)


@cache
def _word_lists() -> tuple[frozenset[str], frozenset[str]]:
    data = lexicon_data()
    return frozenset(w.lower() for w in data["anchor_hazards"]), frozenset(w.lower() for w in data["anchor_context"])


@dataclass(frozen=True)
class _Island:
    start: int
    end: int
    node: n.Node


def _start(tok: Token) -> int:
    return tok.start_pos or 0


def _end(tok: Token) -> int:
    return tok.end_pos or 0


def _gap_ok(gap: str) -> bool:
    """Only filler words and a colon or equals sign between a subject and its operator."""
    rest = _WORD_RE.sub(lambda m: "" if m.group(0).lower() in _GAP_WORDS else "\0", gap)
    return "\0" not in rest and not rest.strip(" \t:=")


def _unit_ok(unit: str | None) -> bool:
    if unit is None:
        return True
    try:
        canonical_unit(unit)
    except UnitError:
        return False
    except Exception:  # odd text must never make a reading raise
        return False
    return True


def _threshold(comp: Comparison, first: Token, last_end: int) -> dict[str, Any]:
    end_tok = Token("NUMBER", "", start_pos=last_end - 1, end_pos=last_end)
    return {
        "op": comp.op,
        "value": comp.value,
        "value2": comp.value2,
        "unit": comp.unit,
        "relative": comp.relative,
        "t0": first,
        "t1": end_tok,
    }


def _raw(text: str, tokens: list[Token], idx: int, comp: Comparison) -> _Island:
    """A comparison whose subject the vocabulary does not name: keep the name as written."""
    start = comp.span[0]
    j = idx
    while (
        j >= 0
        and tokens[j].type in ("WORD", "LAB", "QLAB", "PUNCT", "LPAR", "RPAR")
        and comp.span[0] - _start(tokens[j]) < 60
    ):
        if tokens[j].type == "PUNCT" and tokens[j].value not in "-/'’":
            break
        start = _start(tokens[j])
        j -= 1
    name = text[start : comp.span[0]].strip(" \t:=,(")
    if not name:
        return _Island(comp.span[0], comp.span[1], n.Unparsed(text=text[comp.span[0] : comp.span[1]],
                       reason="a threshold without a named quantity", span=comp.span))  # fmt: skip
    node = n.Measurement(
        name=name,
        op=comp.op,
        value=comp.value,
        value2=comp.value2,
        unit=comp.unit,
        relative=comp.relative,
        span=(start, comp.span[1]),
    )
    return _Island(start, comp.span[1], node)


def _island(text: str, tokens: list[Token], comp: Comparison, vocab: Vocabulary, kind: str) -> _Island:
    from .transformer import ToAst  # the grammar's own list semantics for "ALT and AST <= 2.5 x ULN"

    s, e = comp.span
    before = [i for i, t in enumerate(tokens) if _end(t) <= s]
    idx = before[-1] if before else -1
    if comp.concept == "age":
        if comp.relative is None and comp.unit in (None, "years", "months"):
            start = (
                _start(tokens[idx])
                if idx >= 0 and tokens[idx].type == "AGE" and _gap_ok(text[_end(tokens[idx]) : s])
                else s
            )
            unit = "months" if comp.unit == "months" else "years"
            age = n.Age(op=comp.op, value=comp.value, value2=comp.value2, unit=unit, span=(start, e))
            return _Island(start, e, age)
        return _raw(text, tokens, idx, comp)
    while idx >= 0 and (
        (tokens[idx].type == "WORD" and tokens[idx].value.lower() in _GAP_WORDS)
        or (tokens[idx].type == "ANCHOR" and tokens[idx].value.lower() in _NOW_ANCHORS)
    ):
        idx -= 1
    if idx < 0 or tokens[idx].type != "LAB" or not _gap_ok(text[_end(tokens[idx]) : s]):
        return _raw(text, tokens, idx, comp)
    j = idx
    while (
        j >= 2
        and tokens[j - 1].type in _LIST_SEPS
        and tokens[j - 2].type == "LAB"
        and not text[_end(tokens[j - 2]) : _start(tokens[j])].replace(tokens[j - 1].value, "", 1).strip(" ,")
    ):
        j -= 2
    labs = tokens[j : idx + 1]
    glued = (
        j >= 1
        and tokens[j - 1].type == "WORD"
        and tokens[j - 1].value.lower() not in _word_lists()[1]
        and not text[_end(tokens[j - 1]) : _start(tokens[j])].strip(" -")
    ) or (
        # "total and direct bilirubin", "fasting or random glucose": a word sharing the lab's name
        j >= 2 and tokens[j - 1].type in _LIST_SEPS and tokens[j - 2].type == "WORD"
    )
    if glued or any(vocab[t.value].qualitative for t in labs if t.type == "LAB"):
        return _raw(text, tokens, idx, comp)
    start = _start(labs[0])
    if (
        comp.relative is None
        and comp.unit is None
        and any(vocab[t.value].unit is not None for t in labs if t.type == "LAB")
    ):
        return _Island(start, e, n.Unparsed(text=text[start:e], reason="the threshold states no unit", span=(start, e)))
    if not _unit_ok(comp.unit):
        why = f"unit '{comp.unit}' is not understood"
        return _Island(start, e, n.Unparsed(text=text[start:e], reason=why, span=(start, e)))
    node: n.Node = ToAst(vocab, kind).lab_cmp([labs, _threshold(comp, labs[0], e)])
    return _Island(start, e, node)


def _hazard(text: str, rest: list[tuple[int, int]], tokens: list[Token]) -> str | None:
    """The first word or token outside the comparisons that could change what they mean, if any."""
    hazards, _ = _word_lists()
    for start, end in rest:
        chunk = text[start:end]
        if _EG_RE.search(chunk):
            return "'e.g.'"
        for m in _WORD_RE.finditer(chunk):
            if m.group(0).lower() in hazards:
                return f"'{m.group(0)}'"
    for i, tok in enumerate(tokens):
        if tok.type in _HAZARD_TYPES:
            return f"'{tok.value}'"
        if tok.type in ("OR", "ANDOR", "THOR"):  # THOR: "or" before a threshold ("age <18 or >60")
            around = {tokens[k].type for k in (i - 1, i + 1) if 0 <= k < len(tokens)}
            if around != {"SEXW"}:
                return f"'{tok.value}'"
    return None


def _substantive(text: str, rest: list[tuple[int, int]], tokens: list[Token]) -> bool:
    _, context = _word_lists()
    sexes = {t.value for t in tokens if t.type == "SEXW"}
    if sexes and sexes != {"male", "female"}:
        return True  # "women aged >= 50": the sex is part of the criterion
    for i, tok in enumerate(tokens):
        between_sexes = (
            tok.type == "OR" and 0 < i < len(tokens) - 1 and tokens[i - 1].type == tokens[i + 1].type == "SEXW"
        )
        if tok.type not in _NEUTRAL_TYPES and not between_sexes:
            return True
    for start, end in rest:
        if any(m.group(0).lower() not in context for m in _WORD_RE.finditer(text[start:end])):
            return True
    return False


# "BP > 130/85 mmHg": a pair of values (systolic/diastolic) that one comparison cannot stand for.
_OPEN_UPPER_RE = re.compile(r"(?:-|–|—|\bto)\s*<(?!=)")
_PAIR_RE = re.compile(r"\d\s*/\s*\d")
# "< 11 g/dL in females and < 12 g/dL in males": thresholds that depend on who the patient is.
_PER_SEX_RE = re.compile(r"\b(?:in|for|among)\s+(?:the\s+)?(?:fe)?males?\b|\b(?:in|for|among)\s+(?:wo)?men\b", re.I)


def _semicolon_parts(text: str) -> list[tuple[int, int]]:
    """Spans of the parts of a text between top-level semicolons (outside brackets)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch in "([{") - (ch in ")]}")
        if ch == ";" and depth == 0:
            parts.append((start, i))
            start = i + 1
    parts.append((start, len(text)))
    return [(a, b) for a, b in parts if text[a:b].strip(" \t,.;")]


def anchored_reading(text: str, kind: str, vocab: Vocabulary) -> n.Node | None:
    """``AND`` of the criterion's comparisons and its unread rest, or None when that would not be sound.

    In an exclusion, parts separated by semicolons ("LDL > 130 mg/dL; triglycerides > 150 mg/dL") are
    separate reasons to exclude: a comparison is a necessary condition of its own part only, so the
    reading is the OR of the parts, each read alone (an unread part stays an unknown alternative).
    """
    if kind == "exclusion":
        spans = _semicolon_parts(text)
        if len(spans) > 1:
            readings: list[n.Node] = []
            for a, b in spans:
                part = anchored_reading(text[a:b], kind, vocab)
                piece = text[a:b].strip()
                readings.append(
                    n.strip_spans(part) if part is not None else n.Unparsed(text=piece, reason="not read", span=(a, b))
                )
            if all(isinstance(r, n.Unparsed) for r in readings):
                return None
            return n.Or(items=tuple(readings), span=(0, len(text)))
    comps = extract_comparisons(text)
    if _PAIR_RE.search(text) and not _PER_SEX_RE.search(text):
        from .pairs import bp_pair_reading  # (pairs uses this module's checks of the words around)

        return bp_pair_reading(text, kind, vocab)
    if not comps or _PAIR_RE.search(text) or _PER_SEX_RE.search(text):
        return None
    if any(c.op == "between" and _OPEN_UPPER_RE.search(text[c.span[0] : c.span[1]]) for c in comps):
        return None  # "4 to < 17 years": the extractor's inclusive range would admit 17
    if any(c.op == "=" and c.relative is not None for c in comps):
        # "ALT 3 x ULN", "three times the upper limit of normal" with no operator: a bound whose direction the
        # text leaves to the reader ('at least', 'up to'), never a value to equal (audit seed 20)
        return None
    tokens = tokenize(text, vocab)
    islands: list[_Island] = []
    for comp in comps:
        if any(i.start <= comp.span[0] < i.end for i in islands):
            continue
        island = _island(text, tokens, comp, vocab, kind)
        if any(i.start < island.end and island.start < i.end for i in islands):
            return None  # two comparisons claim the same words: not a reading to trust
        islands.append(island)
    islands.sort(key=lambda i: i.start)
    rest: list[tuple[int, int]] = []
    pos = 0
    for island in islands:
        if island.start > pos:
            rest.append((pos, island.start))
        pos = max(pos, island.end)
    if pos < len(text):
        rest.append((pos, len(text)))
    outside = [t for t in tokens if not any(i.start <= _start(t) < i.end for i in islands)]
    if _hazard(text, rest, outside) is not None:
        return None
    parts = [i.node for i in islands]
    if _substantive(text, rest, outside):
        pieces = [text[a:b].strip(" \t,;:.") for a, b in rest]
        left = " … ".join(p for p in pieces if p)
        first, last = rest[0][0], rest[-1][1]
        parts.append(n.Unparsed(text=left, reason="the words around the comparisons were not read", span=(first, last)))
    if len(parts) == 1:
        return parts[0]
    return n.And(items=tuple(parts), span=(0, len(text)))
