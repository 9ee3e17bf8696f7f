"""Numeric comparisons in free criterion text: "platelet count >= 100 x 10^9/L", "aged 18-65 years".

``extract_comparisons`` pattern-matches over the tokens of :func:`eligibility.parse.lexer.tokenize`
(operators, numbers, units, ULN/LLN, age words all come from the lexer and its data files); the only
raw-text look-ups are for unit spellings the lexer leaves as plain words ("20mm", "450 ms",
"1,500/mm3") and are anchored right after a number token.

Precision comes before recall: a number is emitted only when an operator (a comparison word, a range,
"between", "or older") ties it to a value with confidence. Bare numbers, dates, list numbering and
"grade 3" are never emitted; a range whose upper end is not above its lower end is rejected.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from lark import Token
from pydantic import BaseModel, ConfigDict

from .data import word_list, word_map
from .errors import VocabularyError
from .parse.lexer import tokenize
from .parse.unitwords import UNIT_WORD_RE as _UNIT_WORD_RE
from .parse.unitwords import canonical_written as _canonical

__all__ = ["Comparison", "Op", "extract_comparisons"]

Op = Literal["<", "<=", ">", ">=", "=", "between"]

_CONCEPTS = frozenset({"LAB", "QLAB", "COND", "DRUG", "PROC"})
_TIME_UNITS = frozenset({"hours", "days", "weeks", "months", "years"})
_RELATIVE_RE = re.compile(r"\s*[x×*]?\s*(ULN|LLN)\b", re.IGNORECASE)
_DECIMAL_COMMA_RE = re.compile(r",(\d{1,2})(?![\d,])")
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "X": 10}
_ROMAN_GLYPHS = {ch: n for n, ch in enumerate("ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ", start=1)}
_ROMAN_RANGE_RE = re.compile(r"^(I{1,3}|IV|VI{0,3}|IX|X)[-–](I{1,3}|IV|VI{0,3}|IX|X)$")
# The word lists are data (``data/comparison_words.yaml``, which says what each is for).
# Words between a scale's name and its value: "ASA physical status I-II", "NYHA class III or IV".
_SCALE_WORDS = word_list("comparison_words.yaml", "scale_words")
# Words before a range that make it a label rather than a quantity: "grade 3-4", "day 1-5", "cycles 2-4".
_LABEL_WORDS = word_list("comparison_words.yaml", "label_words")
# Clause words that make a duration a quantity of its own ("life expectancy > 3 months", "gestation 24-28 weeks").
_TIME_OBSERVATIONS = re.compile(
    r"life\s*expectancy|survival|prognosis|expected\s+to\s+live|gestation|gestational|menstrual",
    re.IGNORECASE,
)
_AGE_WORDS = word_list("comparison_words.yaml", "age_words")
_DURATION_TYPES = frozenset({"FOR", "WITHIN", "PRIOR", "HISTORY", "DURATION", "STABLE", "CONSEC", "ANCHOR"})
_DURATION_WORDS = word_list("comparison_words.yaml", "duration_words")


def _operators(words: Mapping[str, str]) -> dict[str, Op]:
    """``or_higher`` of ``data/comparison_words.yaml`` with each operator checked (only ">=" or "<=")."""
    out: dict[str, Op] = {}
    for word, op in words.items():
        if op == ">=":
            out[word] = ">="
        elif op == "<=":
            out[word] = "<="
        else:
            raise VocabularyError(f"comparison_words.yaml: field 'or_higher': {word!r}: {op!r} is not '>=' or '<='")
    return out


# "5 or higher", "= 2 or lower": the word after "or" and the one-sided operator it makes.
_HIGHER_WORDS = _operators(word_map("comparison_words.yaml", "or_higher"))
_NOUN_TYPES = frozenset({"WORD", "COND", "DRUG", "PROC", "HISTORY", "QUAL", "CURRENT", "POSITIVE", "NEGATIVE"})
_COMPOUND_RE = re.compile(r"-[A-Za-z]")
_DOSE_UNIT_RE = re.compile(r"^(?:[mµun]?g|IU|U|mEq|mmol)/(?:day|d|kg|dose|week|wk|m²|h)$")
_MASS_UNITS = frozenset({"mg", "g", "µg", "ng"})
_DOSE_WORDS = word_list("comparison_words.yaml", "dose_words")
_LIST_SEPARATORS = frozenset({"AND", "OR", "COMMA", "SLASH", "ANDOR"})


class Comparison(BaseModel):
    """One numeric comparison found in a text; ``span`` is (start, end) in that text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    span: tuple[int, int]
    op: Op
    value: float
    value2: float | None = None
    unit: str | None = None
    relative: Literal["ULN", "LLN"] | None = None
    concept: str | None = None


class _Quantity:
    """A number with what follows it: a unit, or a ULN/LLN multiple."""

    __slots__ = ("end", "next", "relative", "start", "unit", "unit_text", "value")

    def __init__(self, value: float, start: int, end: int, nxt: int) -> None:
        self.value, self.start, self.end, self.next = value, start, end, nxt
        self.unit: str | None = None
        self.unit_text = ""
        self.relative: Literal["ULN", "LLN"] | None = None


class _Found:
    """A match: the comparisons (one per coordinated concept) and the index of the next token."""

    __slots__ = ("items", "next")

    def __init__(self, items: list[Comparison], nxt: int) -> None:
        self.items, self.next = items, nxt


def _start(tok: Token) -> int:
    return tok.start_pos or 0


def _end(tok: Token) -> int:
    return tok.end_pos or 0


def _number(tok: Token) -> float | None:
    try:
        value = float(tok.value)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _roman(tok: Token) -> float | None:
    if tok.type == "WORD" and tok.value in _ROMAN:
        return float(_ROMAN[tok.value])
    if tok.type == "PUNCT" and tok.value in _ROMAN_GLYPHS:
        return float(_ROMAN_GLYPHS[tok.value])
    return None


class _Extractor:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.out: list[Comparison] = []
        self.boundary = 0  # index of the first token not consumed by an earlier comparison

    def tok_text(self, tok: Token) -> str:
        return self.text[_start(tok) : _end(tok)]

    # ---- quantities -------------------------------------------------------------------------------

    def quantity(self, i: int, decimal_comma: bool = False) -> _Quantity | None:
        """NUMBER at i, with its unit (UNIT, TIMEUNIT or a unit word) or 'x ULN' after it."""
        toks = self.toks
        if i >= len(toks) or toks[i].type != "NUMBER":
            return None
        value = _number(toks[i])
        if value is None:
            return None
        q = _Quantity(value, _start(toks[i]), _end(toks[i]), i + 1)
        if decimal_comma and "." not in toks[i].value:
            m = _DECIMAL_COMMA_RE.match(self.text, q.end)
            if m and q.next < len(toks) and toks[q.next].type == "COMMA":
                q.value = float(f"{toks[i].value}.{m.group(1)}")
                q.end = m.end()
                q.next += 2
        j = q.next
        if j < len(toks) and toks[j].type in ("UNIT", "TIMEUNIT") and _start(toks[j]) >= q.end:
            unit = toks[j].value
            if unit.startswith("?"):
                unit = _canonical(unit[1:]) or unit[1:].strip()
            q.unit, q.unit_text, q.end, q.next = unit, self.tok_text(toks[j]), _end(toks[j]), j + 1
        elif j >= len(toks) or toks[j].type not in ("TIMES", "ULN", "LLN", "DASH", "AND", "OR", "NUMBER"):
            m = _UNIT_WORD_RE.match(self.text, q.end)
            if m:
                unit = _canonical(m.group(0))
                if unit is not None:
                    q.unit, q.unit_text, q.end = unit, m.group(0).strip(), m.end()
                    while j < len(toks) and _start(toks[j]) < m.end():
                        j += 1
                    q.next = j
        # "2.5 x ULN", "1.5 times the upper limit of normal", "2 times higher than the ULN"
        k = q.next
        if k < len(toks) and toks[k].type == "TIMES":
            k += 1
            if k < len(toks) and toks[k].type == "HIGHER":
                k += 1
        if k < len(toks) and toks[k].type in ("ULN", "LLN") and (k > q.next or q.unit is None):
            q.relative = "ULN" if toks[k].type == "ULN" else "LLN"
            q.unit, q.end, q.next = None, _end(toks[k]), k + 1
        elif q.unit is None:
            m = _RELATIVE_RE.match(self.text, q.end)
            if m:
                q.relative = "ULN" if m.group(1).upper() == "ULN" else "LLN"
                q.end = m.end()
                while q.next < len(toks) and _start(toks[q.next]) < m.end():
                    q.next += 1
        return q

    def roman_quantity(self, i: int) -> _Quantity | None:
        if i >= len(self.toks):
            return None
        value = _roman(self.toks[i])
        if value is None:
            return None
        return _Quantity(value, _start(self.toks[i]), _end(self.toks[i]), i + 1)

    # ---- patterns ---------------------------------------------------------------------------------

    def op_at(self, i: int) -> tuple[str, int] | None:
        """A comparison operator at i: CMP, or '> or =', '>/=' (combined), then an optional AGE word."""
        toks = self.toks
        if i >= len(toks):
            return None
        if toks[i].type in ("OLDER", "YOUNGER") and i + 1 < len(toks) and toks[i + 1].value.lower() == "than":
            # "... and younger than 90": the lexer read "and younger" as one word
            return (">" if toks[i].type == "OLDER" else "<"), i + 2
        if toks[i].type != "CMP":
            return None
        op = toks[i].value
        j = i + 1
        if j + 1 < len(toks) and toks[j].type in ("OR", "SLASH") and toks[j + 1].type == "CMP":
            second = toks[j + 1].value
            if op in ("<", ">") and second == "=":
                op, j = op + "=", j + 2
        if j < len(toks) and toks[j].type == "AGE":  # "over age 18", "under the age of 75"
            j += 1
        return op, j

    def match(self, i: int) -> _Found | None:
        tok = self.toks[i]
        if tok.type == "BETWEEN":
            return self.between(i)
        if tok.type in ("CMP", "OLDER", "YOUNGER"):
            return self.compare(i)
        if tok.type == "NUMBER":
            return self.number_led(i)
        if tok.type == "WORD" and tok.value.lower() in ("minimum", "min", "maximum", "max"):
            return self.min_max(i)
        if _roman(tok) is not None or (tok.type == "WORD" and _ROMAN_RANGE_RE.match(tok.value)):
            return self.roman_led(i)
        return None

    def between(self, i: int) -> _Found | None:
        toks = self.toks
        j = i + 1
        if j < len(toks) and toks[j].type == "AGE":  # "between the ages of 18 and 55"
            j += 1
        lo = self.quantity(j)
        if lo is None or lo.next >= len(toks) or toks[lo.next].type not in ("AND", "DASH"):
            return None
        hi = self.quantity(lo.next + 1)
        if hi is None:
            return None
        return self.range(i, lo, hi, age=j > i + 1)

    def range(self, i: int, lo: _Quantity, hi: _Quantity, age: bool = False) -> _Found | None:
        if hi.value <= lo.value or lo.relative != hi.relative:
            return None
        if lo.unit and hi.unit and lo.unit != hi.unit:
            return None
        unit = hi.unit or lo.unit
        if unit is None and hi.relative is None and _looks_like_years(lo.value, hi.value):
            return None
        comp = Comparison(
            span=(_start(self.toks[i]), hi.end),
            op="between",
            value=lo.value,
            value2=hi.value,
            unit=unit,
            relative=hi.relative,
        )
        return self.finish(i, comp, hi.next, age=age)

    def compare(self, i: int) -> _Found | None:
        toks = self.toks
        found = self.op_at(i)
        if found is None:
            return None
        op, j = found
        q = self.quantity(j, decimal_comma=True)
        if q is None:
            rq = self.roman_quantity(j)
            if rq is not None and self.scale_context(i):
                comp = Comparison(span=(_start(toks[i]), rq.end), op=op, value=rq.value)
                return self.finish(i, comp, rq.next)
            return None
        k = q.next
        # "> 140/90 mmHg": two bounds, one unit
        if k + 1 < len(toks) and toks[k].type == "SLASH" and toks[k + 1].type == "NUMBER" and q.unit is None:
            q2 = self.quantity(k + 1)
            if (
                q2 is not None
                and q2.value < q.value
                and _end(toks[k]) == _start(toks[k + 1])
                and _start(toks[k]) == q.end
            ):
                c1 = Comparison(span=(_start(toks[i]), q.end), op=op, value=q.value, unit=q2.unit)
                c2 = Comparison(span=(q2.start, q2.end), op=op, value=q2.value, unit=q2.unit)
                f1 = self.finish(i, c1, q2.next)
                f2 = self.finish(i, c2, q2.next)
                if f1 is None or f2 is None:
                    return None
                return _Found(f1.items + f2.items, q2.next)
            if q2 is None or q2.value <= q.value:
                return None
        unit, relative = q.unit, q.relative
        end, nxt = q.end, q.next
        if unit is None and relative is None:
            if op == "=" or (toks[j].value[:1].isalpha() and not self.lab_context(i)):
                return None  # "n=20", "at least one": a count, not a measurement
            if self.count_follows(q):
                return None
            # "≥ 18 and ≤ 65 years": the unit written once, after the second bound
            if k < len(toks) and toks[k].type in ("AND", "DASH", "COMMA", "OR"):
                second = self.op_at(k + 1)
                if second is not None:
                    q2 = self.quantity(second[1])
                    if q2 is not None and (q2.unit in _TIME_UNITS or q2.relative):
                        unit, relative = q2.unit, q2.relative
            if k + 1 < len(toks) and toks[k].type == "DASH" and toks[k + 1].type == "NUMBER":
                return None  # "> 18 - 65": not one comparison
            # "= 5 or higher"
            if op == "=" and k + 1 < len(toks) and toks[k].type == "OR" and toks[k + 1].type == "WORD":
                word = toks[k + 1].value.lower()
                if word in _HIGHER_WORDS:
                    op, end, nxt = _HIGHER_WORDS[word], _end(toks[k + 1]), k + 2
            # "at least 2 prior regimens", "more than 3 lesions": a count of things, not a measurement
            if (
                nxt < len(toks)
                and toks[nxt].type in _NOUN_TYPES
                and not self.lab_context(i)
                and not (toks[nxt].type == "WORD" and toks[nxt].value.lower() in _AGE_WORDS)
            ):
                return None
        comp = Comparison(
            span=(_start(toks[i]), end),
            op=op,
            value=q.value,
            unit=unit,
            relative=relative,
        )
        age = any(t.type == "AGE" for t in toks[i:j]) or any(
            w in self.tok_text(toks[i]).lower() for w in ("old", "young")
        )
        return self.finish(i, comp, nxt, age=age)

    def number_led(self, i: int) -> _Found | None:
        toks = self.toks
        if i > 0 and toks[i - 1].type in ("DASH", "SLASH", "COMMA", "NUMBER") and _end(toks[i - 1]) == _start(toks[i]):
            return None  # the tail of a date, code or list
        q = self.quantity(i)
        if q is None:
            return None
        k = q.next
        # "18+ years"
        if (
            q.unit is None
            and k < len(toks)
            and toks[k].type == "PUNCT"
            and toks[k].value == "+"
            and (_start(toks[k]) == q.end)
        ):
            m = _UNIT_WORD_RE.match(self.text, _end(toks[k]))
            unit = _canonical(m.group(0)) if m else None
            if m is None or unit not in _TIME_UNITS:
                return None
            j = k + 1
            while j < len(toks) and _start(toks[j]) < m.end():
                j += 1
            comp = Comparison(span=(q.start, m.end()), op=">=", value=q.value, unit=unit)
            return self.finish(i, comp, j, age=True)
        # range: NUMBER [unit] DASH [CMP] NUMBER [unit]
        if k < len(toks) and toks[k].type == "DASH":
            j = k + 1
            if j < len(toks) and toks[j].type == "CMP" and toks[j].value in ("<", "<="):
                j += 1  # "4 to < 17 years"
            hi = self.quantity(j)
            if hi is None:
                return None
            if hi.next < len(toks) and toks[hi.next].type in ("DASH", "SLASH") and _start(toks[hi.next]) == hi.end:
                return None  # 2019-01-15, 1-2-3
            if not self.range_context(i, q, hi):
                return None
            return self.range(i, q, hi)
        # scale values: "ECOG 0 or 1", "status of 0, 1 or 2"
        if q.unit is None and q.relative is None and k < len(toks) and toks[k].type in ("OR", "COMMA", "AND"):
            found = self.scale_list(i, q.value, k, self.quantity)
            if found is not None:
                return found
        # "1.5 times the upper limit of normal" with no operator: the value itself
        if q.relative is not None:
            if i > 0 and toks[i - 1].type == "CMP":
                return None
            comp = Comparison(span=(q.start, q.end), op="=", value=q.value, relative=q.relative)
            return self.finish(i, comp, q.next)
        # NUMBER [unit] [of AGE] OLDER / YOUNGER: "18 years or older", "65 or younger", "100 mg or more"
        if k < len(toks) and toks[k].type == "PRIOR" and toks[k].value.lower() == "of":
            k += 1
        if k < len(toks) and toks[k].type == "AGE":
            k += 1
        if k < len(toks) and toks[k].type in ("OLDER", "YOUNGER"):
            word = toks[k].value.lower()
            age_word = "old" in word or "young" in word
            if not age_word and not self.quantity_context(i, q):
                return None
            if not age_word and k + 1 < len(toks) and toks[k + 1].type in _NOUN_TYPES and not self.lab_context(i):
                return None  # "2 or more prior regimens": a count
            op = ">=" if toks[k].type == "OLDER" else "<="
            comp = Comparison(span=(q.start, _end(toks[k])), op=op, value=q.value, unit=q.unit, relative=q.relative)
            return self.finish(i, comp, k + 1, age=age_word)
        # NUMBER [unit] or higher / or lower
        if k + 1 < len(toks) and toks[k].type == "OR" and toks[k + 1].type == "WORD":
            word = toks[k + 1].value.lower()
            if word in _HIGHER_WORDS and self.quantity_context(i, q):
                comp = Comparison(
                    span=(q.start, _end(toks[k + 1])),
                    op=_HIGHER_WORDS[word],
                    value=q.value,
                    unit=q.unit,
                )
                return self.finish(i, comp, k + 2)
        return None

    def scale_list(self, i: int, first: float, k: int, read: object) -> _Found | None:
        """'0 or 1', '1, 2 or 3', 'III or IV' after a scale name: the range of the listed values."""
        toks = self.toks
        values = [first]
        j = k
        last_end = 0
        while j + 1 < len(toks) and toks[j].type in ("OR", "COMMA", "AND"):
            step = j + 1
            if toks[j].type == "COMMA" and step < len(toks) and toks[step].type in ("OR", "AND"):
                step += 1
            nq = self.quantity(step) if read == self.quantity else self.roman_quantity(step)
            if nq is None or nq.unit is not None or nq.relative is not None:
                break
            values.append(nq.value)
            last_end, j = nq.end, nq.next
            if toks[step - 1].type in ("OR", "AND"):
                break
        if len(values) < 2:
            return None
        if any(b - a != 1 and b - a != 0.5 for a, b in itertools.pairwise(values)):
            return None
        if not self.scale_context(i):
            return None
        comp = Comparison(span=(_start(toks[i]), last_end), op="between", value=values[0], value2=values[-1])
        return self.finish(i, comp, j)

    def roman_led(self, i: int) -> _Found | None:
        toks = self.toks
        tok = toks[i]
        if tok.type == "WORD" and (m := _ROMAN_RANGE_RE.match(tok.value)):
            if not self.scale_context(i):
                return None
            lo, hi = float(_ROMAN[m.group(1)]), float(_ROMAN[m.group(2)])
            if hi <= lo:
                return None
            comp = Comparison(span=(_start(tok), _end(tok)), op="between", value=lo, value2=hi)
            return self.finish(i, comp, i + 1)
        lo_q = self.roman_quantity(i)
        if lo_q is None:
            return None
        k = i + 1
        if k + 1 < len(toks) and toks[k].type == "DASH":
            hi_q = self.roman_quantity(k + 1)
            if hi_q is None or hi_q.value <= lo_q.value or not self.scale_context(i):
                return None
            comp = Comparison(span=(lo_q.start, hi_q.end), op="between", value=lo_q.value, value2=hi_q.value)
            return self.finish(i, comp, k + 2)
        if k < len(toks) and toks[k].type in ("OR", "COMMA", "AND"):
            return self.scale_list(i, lo_q.value, k, self.roman_quantity)
        return None

    def min_max(self, i: int) -> _Found | None:
        """'Minimum age: 18 years', 'maximum 56 years'."""
        toks = self.toks
        op = ">=" if toks[i].value.lower().startswith("min") else "<="
        j = i + 1
        age = False
        if j < len(toks) and toks[j].type == "AGE":
            j, age = j + 1, True
        if j < len(toks) and toks[j].type == "PUNCT" and toks[j].value == ":":
            j += 1
        q = self.quantity(j)
        if q is None or (q.unit is None and not age):
            return None
        comp = Comparison(span=(_start(toks[i]), q.end), op=op, value=q.value, unit=q.unit)
        return self.finish(i, comp, q.next, age=age)

    # ---- context ----------------------------------------------------------------------------------

    def previous(self, i: int) -> Token | None:
        j = i - 1
        while j >= self.boundary and self.toks[j].type in ("PUNCT", "LPAR") and self.toks[j].value in ":([":
            j -= 1
        return self.toks[j] if j >= self.boundary and j >= 0 else None

    def lab_context(self, i: int) -> bool:
        """A measured quantity (a lab, a scale, age) is named just before token i."""
        j = i - 1
        while j >= self.boundary and j >= i - 4:
            t = self.toks[j]
            if t.type in ("LAB", "QLAB", "AGE"):
                return True
            if t.type not in ("WORD", "PUNCT", "LPAR", "RPAR"):
                return False
            j -= 1
        return False

    def scale_context(self, i: int) -> bool:
        """A scale's name before token i: a lab/score concept or an acronym, maybe with 'class', 'status'..."""
        j = i - 1
        while j >= self.boundary and j >= i - 5:
            t = self.toks[j]
            word = self.tok_text(t)
            if t.type in ("LAB", "QLAB"):
                return True
            if t.type in ("WORD", "DRUG", "COND", "PROC") and _is_acronym(word):
                return True
            if t.type == "RPAR" or (t.type == "LPAR") or (t.type == "PUNCT" and t.value in ":="):
                j -= 1
                continue
            if t.type == "WORD" and word.lower() in _SCALE_WORDS:
                j -= 1
                continue
            return False
        return False

    def quantity_context(self, i: int, q: _Quantity) -> bool:
        """A number followed by 'or more' is a bound when it has a unit or a named quantity before it."""
        if q.unit is not None or q.relative is not None:
            return True
        prev = self.previous(i)
        if prev is not None and prev.type == "WORD" and prev.value.lower() in _LABEL_WORDS | {"version"}:
            return False
        return prev is not None and (prev.type in _CONCEPTS or prev.type in ("AGE", "WORD", "RPAR"))

    def range_context(self, i: int, lo: _Quantity, hi: _Quantity) -> bool:
        """'18-65 years', 'ECOG 0-1', 'age: 18-75': a range needs a unit or a quantity name around it."""
        prev = self.previous(i)
        if prev is not None and prev.type == "WORD" and prev.value.lower() in _LABEL_WORDS:
            return self.scale_context(i)
        if (
            prev is not None
            and prev.type in ("NUMBER", "DASH", "SLASH", "COMMA")
            and _end(prev) + 1 >= _start(self.toks[i])
        ):
            return False
        if hi.unit is not None or lo.unit is not None or hi.relative is not None:
            return True
        if hi.next < len(self.toks) and self.toks[hi.next].type == "AGE":
            return True  # "20-70 age"
        if prev is None:
            return False
        return prev.type in _CONCEPTS or prev.type in ("AGE", "WORD", "RPAR")

    def age_context(self, i: int, end_index: int) -> bool:
        toks = self.toks
        for t in toks[max(self.boundary, i - 6) : i]:
            if t.type == "AGE" or (t.type == "WORD" and t.value.lower() in _AGE_WORDS):
                return True
        for t in toks[end_index : end_index + 2]:
            if t.type in ("AGE", "OLDER", "YOUNGER") or (t.type == "WORD" and t.value.lower() in _AGE_WORDS):
                return True
        return False

    def duration_context(self, i: int, end_index: int) -> bool:
        toks = self.toks
        for t in toks[max(self.boundary, i - 3) : i] + toks[end_index : end_index + 1]:
            if t.type in _DURATION_TYPES or (t.type == "WORD" and t.value.lower() in _DURATION_WORDS):
                return True
        return False

    def concepts(self, i: int) -> list[str]:
        """The concept mentions before token i in the same clause: 'AST and ALT' gives both."""
        toks = self.toks
        j = i - 1
        steps = 0
        while j >= self.boundary and steps < 8:
            t = toks[j]
            if t.type == "SEMI":
                break
            if t.type in _CONCEPTS:
                if t.type != "LAB" and _is_acronym(self.tok_text(t)):
                    return [self.tok_text(t)]  # "ASA" the scale, not the drug it also abbreviates
                found = [str(t.value)]
                k = j - 1
                while k - 1 >= self.boundary and toks[k].type in _LIST_SEPARATORS and toks[k - 1].type == t.type:
                    found.append(str(toks[k - 1].value))
                    k -= 2
                return list(dict.fromkeys(reversed(found)))
            if t.type == "AGE":
                return ["age"]
            j -= 1
            steps += 1
        words: list[Token] = []
        j = i - 1
        while j >= self.boundary and (toks[j].type == "WORD" or (toks[j].type == "PUNCT" and toks[j].value == ":")):
            if toks[j].type == "WORD":
                words.append(toks[j])
            if len(words) >= 4:
                break
            j -= 1
        if words:
            return [self.text[_start(words[-1]) : _end(words[0])]]
        return []

    def count_follows(self, q: _Quantity) -> bool:
        """'more than 4 times per week', 'a 12-week period': the number counts or modifies something."""
        nxt = self.toks[q.next] if q.next < len(self.toks) else None
        if nxt is not None and nxt.type == "TIMES":
            return True
        return bool(_COMPOUND_RE.match(self.text, q.end))

    def dose_like(self, i: int, comp: Comparison, nxt: int) -> bool:
        """A medication dose ('prednisone > 10 mg/day', '> 7.2 mg/kg'), not a measurement of the patient."""
        unit = comp.unit or ""
        if _DOSE_UNIT_RE.match(unit):
            return True
        if unit not in _MASS_UNITS:
            return False
        after = self.toks[nxt] if nxt < len(self.toks) else None
        if after is not None and (after.type in ("PRIOR", "DOSE") or after.value.lower() in _DOSE_WORDS):
            return True
        return any(t.type == "DRUG" for t in self.toks[max(self.boundary, i - 6) : i])

    def share_of_something(self, i: int, comp: Comparison, nxt: int) -> bool:
        """'in at least 30% of the teeth', '25% lifetime risk': a proportion of things, not a lab value."""
        if comp.unit != "%" or self.lab_context(i):
            return False
        if re.match(r"\s*of\b", self.text[comp.span[1] :]):
            return True
        return nxt < len(self.toks) and self.toks[nxt].type in _NOUN_TYPES

    def finish(self, i: int, comp: Comparison, nxt: int, age: bool = False) -> _Found | None:
        """Check a duration is an age or an observation, then name the concept(s)."""
        unit = comp.unit
        if self.dose_like(i, comp, nxt) or self.share_of_something(i, comp, nxt):
            return None
        names = self.concepts(i)
        if unit in _TIME_UNITS:
            before = self.text[max(0, comp.span[0] - 60) : comp.span[0]]
            if age or self.age_context(i, nxt):
                names = names if names == ["age"] else ["age"]
            elif _TIME_OBSERVATIONS.search(before):
                pass
            elif unit == "years" and not self.duration_context(i, nxt) and not names:
                names = ["age"]
            else:
                return None
        elif age:
            names = ["age"]
        if not names:
            return _Found([comp], nxt)
        return _Found([comp.model_copy(update={"concept": name}) for name in names], nxt)

    # ---- driver -----------------------------------------------------------------------------------

    def run(self) -> list[Comparison]:
        i = 0
        while i < len(self.toks):
            found = self.match(i)
            if found is None or not all(_sane(c, self.text) for c in found.items):
                i += 1
                continue
            self.out.extend(found.items)
            self.boundary = found.next
            i = max(found.next, i + 1)
        return self.out


def _is_acronym(word: str) -> bool:
    return 2 <= len(word) <= 6 and word.isupper() and word.isalpha() and word not in _ROMAN


def _looks_like_years(a: float, b: float) -> bool:
    return 1900 <= a <= 2100 and 1900 <= b <= 2100


def _sane(comp: Comparison, text: str) -> bool:
    start, end = comp.span
    if not (0 <= start < end <= len(text)):
        return False
    return not (comp.op == "between" and (comp.value2 is None or comp.value2 <= comp.value))


def extract_comparisons(text: str) -> list[Comparison]:
    """Every numeric comparison in ``text`` that can be read with confidence, in text order; never raises."""
    if not text or not text.strip():
        return []
    return _Extractor(text).run()


# ---- documents ------------------------------------------------------------------------------------


def criterion_records(doc: str, criteria_text: str) -> list[dict[str, object]]:
    """The comparisons of every criterion of a criteria text, as the JSON lines of ``eligibility extract``.

    Spans are in characters of ``criteria_text`` (mapped back through each criterion's offsets).
    """
    from .io.ctgov import split_criteria

    rows: list[dict[str, object]] = []
    for crit in split_criteria(criteria_text):
        for comp in extract_comparisons(crit.text):
            start = crit.offsets[comp.span[0]]
            end = crit.offsets[comp.span[1] - 1] + 1
            rows.append(
                {
                    "doc": doc,
                    "criterion": crit.id,
                    "section": crit.kind,
                    "span": [start, end],
                    "op": comp.op,
                    "value": comp.value,
                    "value2": comp.value2,
                    "unit": comp.unit,
                    "relative": comp.relative,
                    "concept": comp.concept,
                }
            )
    return rows


def file_records(path: str | Path) -> list[dict[str, object]]:
    """Comparisons of a plain-text criteria file (doc = file stem) or a CT.gov study JSON (doc = nctId).

    Raises ``OSError``, ``UnicodeDecodeError`` or :class:`~eligibility.errors.EligibilityError` when the
    file cannot be read.
    """
    from .io.ctgov import read_ctgov_json

    p = Path(path)
    if p.suffix.lower() == ".json":
        rows: list[dict[str, object]] = []
        for study in read_ctgov_json(p):
            rows.extend(criterion_records(study.nct_id, study.criteria_text))
        return rows
    from .io.files import read_text

    # exact characters as on disk (no newline translation), so spans index the file's text
    text = read_text(p)
    return criterion_records(p.stem, text)
