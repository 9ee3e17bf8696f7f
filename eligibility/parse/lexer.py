"""Criterion text -> typed tokens.

The grammar never sees words: concept mentions are found here with the vocabulary (so adding a
synonym never means editing the grammar), function words with the lexicon data file, numbers and
units with a few regular expressions. Every token keeps its offsets into the original text.

Words that are neither known function words, filler nor concept synonyms become ``WORD`` tokens,
which the grammar does not accept: a clause with an unknown word is not understood, by design.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, TypeVar

from lark import Token

from ..concepts import Vocabulary, default_vocabulary
from ..data import load_yaml
from ..errors import UnitError, VocabularyError
from ..units import canonical_unit
from .allergyafter import allergy_after
from .coordination import share_heads, slash_between_mentions
from .relative import relative_clause
from .terms import resolve_conditions
from .unitwords import EXTRA_UNITS, UNIT_WORD_RE, canonical_written

CATEGORY_TOKEN = {"lab": "LAB", "condition": "COND", "medication": "DRUG", "procedure": "PROC", "finding": "COND"}

_NUMBER_RE = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?![\d,])|\d+(?:\.\d+)?|\.\d+)(?![\d])")
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
# "x 10^9/L", "× 10⁹ / L", "x109/L", "10E9/L", "10*9/L", "x 10 9 /L", "10^3/µL", "103/mm3"
_SCI_UNIT_RE = re.compile(
    r"(?:[x×*]\s*)?10\s*(?:\^|\*{1,2}|[eE]|\s)?\s*(?:[0-9]{1,2}|[" + _SUPERSCRIPTS + r"]{1,2})"
    r"\s*(?:/|per)\s*(?:[µμu]\s*[lL]|mm\s*3|mm³|mm\^3|cu\.?\s*mm|[lL])(?![\w])"
)
# A segment after "/" may be a body-surface normalisation written with a space: "/1.73 m2".
_GENERIC_UNIT_RE = re.compile(
    r"(?:[µμ%\w\[\]{}.\*\^²³]+(?:\s?/\s?(?:1[.,]73\s?m(?:2|²|\^2)(?![\w])|[µμ\w\[\]{}.\*\^²³]+))+|%|‰)"
)
# A product with a negative exponent instead of a slash: "kg·m-2", "kg∙m⁻²", "mL.min-1".
_PRODUCT_UNIT_RE = re.compile(r"[µμ\w]+(?:\s?[·∙⋅*.]\s?[µμ\w]+?(?:-|⁻)[0-9¹²³])+(?![\w])")
_STANDALONE_UNITS = frozenset(
    {"%", "mmHg", "mm Hg", "ms", "msec", "kg", "g", "mg", "cm", "mm", "bpm", "mEq", "IU", "U", "points", "point"}
)
_WORD_RE = re.compile(r"[A-Za-zÀ-ÿ][\w'’-]*")
_REVIEW_RE = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Lexicon:
    """Function-word phrases -> (token type, value), plus filler words."""

    phrases: dict[str, tuple[str, str]]
    filler: frozenset[str]
    time_units: dict[str, str]
    number_words: dict[str, float]


@cache
def lexicon_data() -> dict[str, Any]:
    """``data/lexicon.yaml`` as read (once): the lexer's tables and the readers' word lists."""
    text = resources.files("eligibility.data").joinpath("lexicon.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = load_yaml(text)
    return data


@cache
def default_lexicon() -> Lexicon:
    data = lexicon_data()
    phrases: dict[str, tuple[str, str]] = {}

    def add(phrase: str, kind: str, value: str) -> None:
        key = phrase.lower()
        if key in phrases and phrases[key] != (kind, value):
            raise VocabularyError(f"lexicon.yaml: '{phrase}' is both {phrases[key]} and {(kind, value)}")
        phrases[key] = (kind, value)

    for op, words in data["comparisons"].items():
        for word in words:
            add(word, "CMP", op)
    for sex, words in data["sexes"].items():
        for word in words:
            add(word, "SEXW", sex)
    for kind, words in data["tokens"].items():
        for word in words:
            add(word, kind, word)
    for reaction, words in data["allergy_phrases"].items():
        for word in words:
            add(word, "ALLERGYTO", reaction)
    time_units = {w.lower(): unit for unit, words in data["time_units"].items() for w in words}
    number_words = {str(k).lower(): float(v) for k, v in data["number_words"].items()}
    return Lexicon(phrases, frozenset(w.lower() for w in data["filler"]), time_units, number_words)


class _PhraseRegex:
    """An alternation of phrases, longest first, that compiles only the part a text can start.

    One regular expression of every synonym tried at every position of the corpus was most of the
    parse time (the engine tries each alternative in turn) and compiling it most of the lexer's start-up.
    The phrases are kept in the same order, grouped by how their first two characters are matched: at a
    position, only the phrases whose first two characters match the text's there can match, so the
    alternation of those (in the same order, compiled on first use and kept) finds exactly what the whole
    alternation finds. Each character of a phrase is matched by exactly one character of text (``re.escape``
    of one character, also under IGNORECASE), except a space (``\\s+``, one or more): a phrase shorter
    than two characters, or starting with a space, is grouped by its first character only and tried at
    every position where that one matches.
    """

    def __init__(self, phrases: list[str], flags: int):
        ordered = sorted(set(phrases), key=len, reverse=True)
        self.flags = flags
        self.alternatives = [self._one(p) for p in ordered]
        self._anywhere: list[int] = []  # an empty phrase would match at any position
        # first character's pattern -> (its phrases matched by one character only,
        #                                second character's pattern -> its phrases)
        firsts: dict[str, tuple[list[int], dict[str, list[int]]]] = {}
        for index, p in enumerate(ordered):
            if not p:
                self._anywhere.append(index)
                continue
            short, seconds = firsts.setdefault(self._head(p[0]), ([], {}))
            if len(p) < 2 or p[0] == " ":
                short.append(index)
            else:
                seconds.setdefault(self._head(p[1]), []).append(index)
        self._heads = [
            (re.compile(head, flags), short, [(re.compile(h2, flags), ix) for h2, ix in seconds.items()])
            for head, (short, seconds) in firsts.items()
        ]
        self._by_chars: dict[str, re.Pattern[str] | None] = {}
        self._by_indices: dict[tuple[int, ...], re.Pattern[str] | None] = {}
        self._whole: re.Pattern[str] | None = None

    @staticmethod
    def _head(char: str) -> str:
        return r"\s" if char == " " else re.escape(char)

    @staticmethod
    def _one(p: str) -> str:
        body = re.escape(p).replace(r"\ ", r"\s+")
        return body + r"(?!\w)" if p[-1:].isalnum() else body

    def _for(self, chars: str) -> re.Pattern[str] | None:
        """The alternation of the phrases that can start with ``chars`` (one or two characters of text)."""
        found = list(self._anywhere)
        for head, short, seconds in self._heads:
            if not head.fullmatch(chars[0]):
                continue
            found.extend(short)
            if len(chars) > 1:
                found.extend(i for h2, ix in seconds if h2.fullmatch(chars[1]) for i in ix)
        indices = tuple(sorted(found))
        if indices not in self._by_indices:
            alts = [self.alternatives[i] for i in indices]
            self._by_indices[indices] = re.compile("|".join(alts), self.flags) if alts else None
        return self._by_indices[indices]

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        """What ``re.compile("|".join(alternatives), flags).match(text, pos)`` returns."""
        if pos >= len(text):
            if self._whole is None:
                self._whole = re.compile("|".join(self.alternatives), self.flags)
            return self._whole.match(text, pos)
        chars = text[pos : pos + 2]
        if chars not in self._by_chars:
            self._by_chars[chars] = self._for(chars)
        pattern = self._by_chars[chars]
        return None if pattern is None else pattern.match(text, pos)


def _phrase_regex(phrases: list[str], flags: int) -> _PhraseRegex | None:
    if not phrases:
        return None
    return _PhraseRegex(phrases, flags)


_V = TypeVar("_V")


def _folded_key(table: dict[str, _V], matched: str) -> _V:
    """The table entry an IGNORECASE match stands for.

    Why not just ``matched.lower()``: Python's case-insensitive matching also pairs 'ſ' with 's',
    'ı' and 'İ' with 'i' and 'K' (Kelvin) with 'k', whose ``lower()`` is not the table's key
    ('İ'.lower() is even two characters). On a miss the key is found by matching each same-length
    entry the way the regex did.
    """
    key = re.sub(r"\s+", " ", matched.lower())
    if key in table:
        return table[key]
    spaced = re.sub(r"\s+", " ", matched)
    for candidate, value in table.items():
        if len(candidate) == len(spaced) and re.fullmatch(re.escape(candidate), spaced, re.IGNORECASE):
            return value
    raise LookupError(f"no lexicon entry matches {matched!r}")  # pragma: no cover - the regex was built from the keys


@dataclass(frozen=True)
class _Matchers:
    phrase: _PhraseRegex | None
    synonym: _PhraseRegex | None
    abbreviation: _PhraseRegex | None
    synonym_ids: dict[str, str]
    abbreviation_ids: dict[str, str]
    filler: _PhraseRegex | None
    time_unit: _PhraseRegex | None


@cache
def _matchers(vocab: Vocabulary) -> _Matchers:
    """Compiled once per vocabulary (a Vocabulary hashes by identity)."""
    lex = default_lexicon()
    synonyms: dict[str, str] = {}
    abbreviations: dict[str, str] = {}
    for concept in vocab.concepts.values():
        for syn in (concept.display, *concept.synonyms):
            synonyms.setdefault(re.sub(r"\s+", " ", syn.lower()), concept.id)
    for concept in vocab.concepts.values():  # after every written synonym, so a written one keeps precedence
        if concept.category == "condition":
            for syn in (concept.display, *concept.synonyms):
                plural = _plural(re.sub(r"\s+", " ", syn.lower()))
                if plural:
                    synonyms.setdefault(plural, concept.id)
        for abbr in concept.abbreviations:
            abbreviations.setdefault(abbr, concept.id)
    return _Matchers(
        phrase=_phrase_regex(list(lex.phrases), re.IGNORECASE),
        synonym=_phrase_regex(list(synonyms), re.IGNORECASE),
        abbreviation=_phrase_regex(list(abbreviations), 0),
        synonym_ids=synonyms,
        abbreviation_ids=abbreviations,
        filler=_phrase_regex(list(lex.filler), re.IGNORECASE),
        time_unit=_phrase_regex(list(lex.time_units), re.IGNORECASE),
    )


_PLURAL_HEADS = frozenset({"disease", "disorder", "defect", "allergy", "infection", "condition", "malformation",
                           "anomaly", "tumor", "tumour", "ulcer", "abnormality", "syndrome", "injury"})  # fmt: skip


def _plural(phrase: str) -> str | None:
    """The plural of a condition name whose last word is a class noun ('inflammatory bowel diseases', 'food
    allergies'): a list of conditions names them in the plural. Other words are left alone (a plural of a
    lab, a drug or an organ may mean something else)."""
    head, _, last = phrase.rpartition(" ")
    if last not in _PLURAL_HEADS:
        return None
    plural = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {plural}" if head else plural


def _token(kind: str, value: str, start: int, end: int) -> Token:
    return Token(kind, value, start_pos=start, end_pos=end, line=1, column=start + 1, end_line=1, end_column=end + 1)


def _word_boundary_ok(text: str, pos: int) -> bool:
    return pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] == "_")


def tokenize(text: str, vocabulary: Vocabulary | None = None) -> list[Token]:
    """All tokens of a criterion, in order; never raises on any string.

    Remembered per (text, vocabulary): reading one criterion tokenizes its text up to three times (the
    grammar, the anchored fallback, the extractor), which was half of parsing a corpus. The tokens depend
    only on the text and the vocabulary's own concepts and lexicon (the matchers are built once per
    vocabulary; a condition derived through ICD-10-CM is the same concept every time), and a caller gets a
    list of its own: tokens are never changed in place.
    """
    return list(_tokens(text, vocabulary or default_vocabulary()))


@lru_cache(maxsize=4096)
def _tokens(text: str, vocab: Vocabulary) -> tuple[Token, ...]:
    tokens = list(_Scanner(text, vocab, _matchers(vocab), default_lexicon()).scan())
    tokens = resolve_conditions(tokens, text, vocab)
    tokens = share_heads(
        tokens,
        text,
        lambda phrase: _one_concept(phrase, vocab),
        lambda concept: vocab.leaf_set(concept) if concept in vocab else frozenset(),
    )
    tokens = slash_between_mentions(relative_clause(allergy_after(_merge_spelled_out(tokens, text), text), text))
    tokens = _nursing_after_pregnant(tokens, vocab)
    return tuple(
        _age_words(_any_time(_time_windows(_threshold_or(_roman_scores(_merge_restated(tokens, text), vocab)))))
    )


def _nursing_after_pregnant(tokens: list[Token], vocab: Vocabulary) -> list[Token]:
    """ "Pregnant or nursing", "pregnant, nursing, or ...": right after pregnancy and a list word, 'nursing' is
    breastfeeding. Bare 'nursing' is no synonym of lactation ("nursing home", "nursing care"), so only this
    neighbour decides it; a word after it ("nursing home residents") leaves it a word."""
    if "lactation" not in vocab or not any(t.type == "COND" and t.value == "pregnancy" for t in tokens):
        return tokens
    out = list(tokens)
    seps = ("OR", "ANDOR", "COMMA", "SLASH", "AND")
    for k in range(2, len(out)):
        tok = out[k]
        after = out[k + 1] if k + 1 < len(out) else None
        if (
            tok.type == "WORD"
            and tok.lower() == "nursing"
            and out[k - 1].type in seps
            and out[k - 2].type == "COND"
            and out[k - 2].value == "pregnancy"
            and (after is None or after.type in (*seps, "SEXW", "PUNCT", "RPAR"))
        ):
            out[k] = _token("COND", "lactation", tok.start_pos or 0, tok.end_pos or 0)
    return out


def _merge_spelled_out(tokens: list[Token], text: str) -> list[Token]:
    """'Patient Health Questionnaire (PHQ9)': unknown words before a parenthesised abbreviation whose
    initials spell it are its spelt-out name, one mention. Every letter must match, in order, word by word;
    a word the scanner read as something else (a concept, a number) is never absorbed."""
    out = list(tokens)
    k = 0
    while k + 2 < len(out):
        lpar, abbr, rpar = out[k], out[k + 1], out[k + 2]
        if not (lpar.type == "LPAR" and abbr.type in _CONCEPT_TYPES and rpar.type == "RPAR"):
            k += 1
            continue
        letters = [c.lower() for c in text[abbr.start_pos or 0 : abbr.end_pos or 0] if c.isalpha()]
        before = text[: lpar.start_pos or 0].rstrip()
        spelt = re.findall(r"[A-Za-z]+", before)[-len(letters) :] if letters else []
        if len(letters) < 2 or len(spelt) != len(letters) or [w[0].lower() for w in spelt] != letters:
            k += 1
            continue
        start = len(before) - len(" ".join(spelt))
        if not re.fullmatch(r"[A-Za-z]+(?:[ -][A-Za-z]+)*", before[start:]) or (start and before[start - 1].isalnum()):
            k += 1
            continue
        j = k
        while j > 0 and (out[j - 1].start_pos or 0) >= start:
            j -= 1
        if any(t.type != "WORD" for t in out[j:k]):
            k += 1
            continue
        merged = _token(abbr.type, str(abbr.value), start, rpar.end_pos or 0)
        out[j : k + 3] = [merged]
        k = j + 1
    return out


_SINGLE_UNITS = {"year": "years", "month": "months", "week": "weeks", "day": "days"}


def _time_windows(tokens: list[Token]) -> list[Token]:
    """Windows said without a number or with "ago": "within the last year" is within 1 year, and "< 6 months
    ago" / "less than 6 months ago" is within 6 months. Only an upper bound on how long ago becomes a window:
    "more than 6 months ago" and a bare "6 months ago" say something else and stay as they are."""
    out: list[Token] = []
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        nxt = tokens[k + 1] if k + 1 < len(tokens) else None
        glued = tokens[k + 1 : k + 4]
        if (  # "within the past 12-month period": the hyphenated adjective is the amount of a window
            tok.type == "WITHIN"
            and [t.type for t in glued] == ["NUMBER", "DASH", "WORD"]
            and glued[2].lower() in _SINGLE_UNITS
            and glued[0].end_pos == glued[1].start_pos
            and glued[1].end_pos == glued[2].start_pos
        ):
            after = tokens[k + 4] if k + 4 < len(tokens) else None
            period = after is not None and after.type == "WORD" and after.lower() in ("period", "interval")
            end = (after.end_pos if period and after is not None else glued[2].end_pos) or 0
            unit = _token("TIMEUNIT", _SINGLE_UNITS[glued[2].lower()], glued[1].start_pos or 0, end)
            out += [tok, glued[0], unit]
            k += 5 if period else 4
            continue
        if tok.type == "WITHIN" and nxt is not None and nxt.type == "WORD" and nxt.lower() in _SINGLE_UNITS:
            start, end = nxt.start_pos or 0, nxt.end_pos or 0
            out += [
                tok,
                _token("NUMBER", "1", start, start),
                _token("TIMEUNIT", _SINGLE_UNITS[nxt.lower()], start, end),
            ]
            k += 2
            continue
        four = tokens[k : k + 4]
        if (
            len(four) == 4
            and tok.type == "CMP"
            and tok.value in ("<", "<=", "≤")
            and [t.type for t in four[1:3]] == ["NUMBER", "TIMEUNIT"]
            and four[3].type == "WORD"
            and four[3].lower() == "ago"
        ):
            out += [_token("WITHIN", "within", tok.start_pos or 0, tok.end_pos or 0), four[1], four[2]]
            k += 4
            continue
        out.append(tok)
        k += 1
    return out


# Words naming the participants by their age group; before a stated age they add nothing to it.
_AGE_GROUP_WORDS = frozenset(
    {"children", "child", "adults", "adult", "infants", "infant", "adolescents", "toddlers", "kids", "neonates"}
)
_AGE_TOKENS = frozenset({"AGE", "OLDER", "YOUNGER"})


def _age_words(tokens: list[Token]) -> list[Token]:
    """ "Children aged 6-36 months", "Adults 18 to 65 years": the group word before the age says nothing
    more; "18 years or older at enrollment": the age at the screening date is the age the engine reads."""
    out = list(tokens)
    group = len(out) >= 2 and out[0].type == "WORD" and out[0].value.lower() in _AGE_GROUP_WORDS
    if group and (
        out[1].type == "AGE"
        or (out[1].type == "NUMBER" and any(t.type in _AGE_TOKENS | {"TIMEUNIT"} for t in out[2:4]))
    ):
        out = out[1:]
    # "Women >= 18 years", "Females between 18 and 45 years old": a sex word right before an age in years or
    # months is "women aged ..." (the word "aged" left out)
    k = 0
    while k + 3 < len(out):
        end = None
        if [t.type for t in out[k + 1 : k + 4]] == ["CMP", "NUMBER", "TIMEUNIT"] and out[k + 3].value in _AGE_UNITS:
            end = k + 4
        elif [t.type for t in out[k + 1 : k + 6]] == ["BETWEEN", "NUMBER", "AND", "NUMBER", "TIMEUNIT"]:
            end = k + 6 if out[k + 5].value in _AGE_UNITS else None
        # only where the amount ends the clause ("Women >= 18 years", "... years old", "... and men ..."):
        # "Women < 6 months postpartum", "Women >= 12 months amenorrhoea" give a duration, not an age
        if out[k].type == "SEXW" and end is not None and _age_phrase_ends(out, end):
            at = out[k + 1].start_pos or 0
            out.insert(k + 1, _token("AGE", "aged", at, at))
        k += 1
    if (
        len(out) >= 3
        and out[-2].type == "WORD"
        and out[-2].value.lower() == "at"
        and out[-1].type == "ANCHOR"
        and out[-3].type in _AGE_TOKENS | {"TIMEUNIT"}
        and any(t.type in _AGE_TOKENS for t in out[:-2])
    ):
        out = out[:-2]
    return out


_AGE_UNITS = frozenset({"years", "months"})
_AGE_PHRASE_ENDS = frozenset({"AND", "OR", "ANDOR", "COMMA", "SEMI", "PUNCT", "RPAR", "SEXW", "THOR", "THAND"})


def _age_phrase_ends(tokens: list[Token], at: int) -> bool:
    """Whether an amount in years or months ending before ``tokens[at]`` ends its clause: the text ends, a list
    word or sex word follows, or "old" / "of age" (which then ends it)."""
    if at >= len(tokens):
        return True
    tok = tokens[at]
    if tok.type in _AGE_PHRASE_ENDS:
        return True
    if tok.type == "WORD" and tok.lower() == "old":
        return _age_phrase_ends(tokens, at + 1)
    return tok.type == "AGE" and tok.lower() in ("age", "of age")


_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}
_SCORE_LIST = frozenset({"CMP", "OR", "ANDOR", "AND", "COMMA", "DASH", "SLASH", "NUMBER", "BETWEEN"})


def _roman_scores(tokens: list[Token], vocab: Vocabulary) -> list[Token]:
    """ "NYHA class III or IV": Roman numerals right after a unitless score are its values."""
    out = list(tokens)
    score = False
    for k, tok in enumerate(out):
        if tok.type == "LAB":
            score = tok.value in vocab and vocab[str(tok.value)].unit is None
        elif score and tok.type == "WORD" and tok.value in _ROMAN:
            out[k] = _token("NUMBER", str(float(_ROMAN[tok.value])), tok.start_pos or 0, tok.end_pos or 0)
        elif tok.type not in _SCORE_LIST:
            score = False
    return out


def _any_time(tokens: list[Token]) -> list[Token]:
    """ "current or prior X", "past or present X": now or before is any time, which is what
    "history of X" means (a current or a resolved record): one HISTORY token."""
    out: list[Token] = []
    k = 0
    while k < len(tokens):
        three = tokens[k : k + 3]
        if (
            len(three) == 3
            and {three[0].type, three[2].type} == {"CURRENT", "HISTORY"}
            and three[1].type in ("OR", "ANDOR", "SLASH")
        ):
            start, end = three[0].start_pos or 0, three[2].end_pos or 0
            out.append(_token("HISTORY", "history of", start, end))
            k += 3
            continue
        out.append(tokens[k])
        k += 1
    return out


def _one_concept(phrase: str, vocab: Vocabulary) -> Token | None:
    """The one concept token a short phrase reads as, whole, or None (for coordinated words)."""
    found = resolve_conditions(list(_Scanner(phrase, vocab, _matchers(vocab), default_lexicon()).scan()), phrase, vocab)
    if (
        len(found) == 1
        and found[0].type in _CONCEPT_TYPES
        and found[0].start_pos == 0
        and found[0].end_pos == len(phrase)
    ):
        return found[0]
    return None


def _threshold_or(tokens: list[Token]) -> list[Token]:
    """ "SBP >= 140 or < 100 mmHg": an 'or' between a quantity and a comparison joins two thresholds
    on the measure before them (THOR), not two clauses."""
    out = _split_or_comparator(tokens)
    ages = any(t.type == "AGE" for t in out) and not any(t.type == "LAB" for t in out)
    for k in range(2, len(out) - 1):
        tok = out[k]
        if tok.type == "OR" and out[k + 1].type == "CMP" and out[k - 1].type in ("NUMBER", "UNIT", "TIMEUNIT"):
            out[k] = _token("THOR", tok.value, tok.start_pos or 0, tok.end_pos or 0)
        elif ages and tok.type == "AND" and out[k + 1].type == "CMP" and out[k - 1].type in ("NUMBER", "TIMEUNIT"):
            # "age < 18 and > 65": a second bound on the age, not a clause of its own (THAND; parse/sexgroups.py
            # reads two bounds no age meets together as either one)
            out[k] = _token("THAND", tok.value, tok.start_pos or 0, tok.end_pos or 0)
    return out


# The comparison a word after "or" makes when a number follows it ("or over 60", "or less than 2").
_OR_COMPARATORS = {"over": ">", "above": ">", "more": ">", "greater": ">", "older": ">",
                   "under": "<", "below": "<", "less": "<", "younger": "<"}  # fmt: skip


def _split_or_comparator(tokens: list[Token]) -> list[Token]:
    """ "age > 21 or less than 2", "under 2 or over 60": 'or less' / 'or over' before a number is 'or' and a
    comparison, not the tail of "18 or less" (which ends a threshold); read as one it turned the second bound
    into words and the 'or' into an 'and' with them (audit seed 20)."""
    out: list[Token] = []
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        words = str(tok.value).lower().split()
        nxt = tokens[k + 1] if k + 1 < len(tokens) else None
        than = nxt is not None and nxt.type == "WORD" and nxt.lower() == "than"
        number_at = k + 2 if than else k + 1
        if (
            tok.type in ("OLDER", "YOUNGER")
            and len(words) == 2
            and words[0] == "or"
            and words[1] in _OR_COMPARATORS
            and number_at < len(tokens)
            and tokens[number_at].type == "NUMBER"
        ):
            start, end = tok.start_pos or 0, tok.end_pos or 0
            cmp_end = (nxt.end_pos or end) if than and nxt is not None else end
            op = _OR_COMPARATORS[words[1]]
            out += [_token("OR", "or", start, start + 2), _token("CMP", op, end - len(words[1]), cmp_end)]
            k = number_at
            continue
        out.append(tok)
        k += 1
    return out


_CONCEPT_TYPES = frozenset({"LAB", "QLAB", "COND", "DRUG", "PROC"})
# A hyphen glued between a mention and a status word ("HIV-positive", "CMV-seronegative") joins them: it is no
# range or list dash. The status word must end the hyphenated word ("HIV-positive-like" is not read).
_STATUS_SUFFIX = re.compile(
    r"(?<=\w)-(?:positive|negative|seropositive|seronegative|positivity|seropositivity)(?![\w-])", re.IGNORECASE
)


def _abbreviates(short: str, long: str) -> bool:
    """Whether ``short`` ("AML", "MDS") abbreviates the whole of ``long`` ("acute myeloid leukemia").

    The initials of its words, or Schwartz and Hearst's test (PSB 2003) from the last letter back: every letter
    of the short form occurs in the long form in order, its first letter begins the long form's first word.
    Held to the whole long form, and every word of it (but "of", "the", "and") must give a letter from its
    start: "ALL" does not abbreviate "acute myeloid leukemia".
    """
    s, full = short.lower(), long.lower()
    if len(short) < 2 or not short[0].isalpha() or not all(c.isupper() or c.isdigit() for c in short if c.isalpha()):
        return False
    words = [(m.start(), m.group(0)) for m in re.finditer(r"[a-z0-9]+", full)]
    if "".join(w[0] for _, w in words) == s:
        return True  # the initials ("MM", multiple myeloma), which the backward test can miss
    matched: set[int] = set()
    li = len(full) - 1
    for si in range(len(s) - 1, -1, -1):
        c = s[si]
        if not c.isalnum():
            continue
        while li >= 0 and (full[li] != c or (si == 0 and li > 0 and full[li - 1].isalnum())):
            li -= 1
        if li < 0:
            return False
        matched.add(li)
        li -= 1
    starts = {i for i, w in words if w not in _ABBREVIATION_SKIPPED}
    return not full[: li + 1].strip(" -") and starts <= matched


_ABBREVIATION_SKIPPED = frozenset({"of", "the", "and", "or", "in", "with", "to", "for"})


def _merge_restated(tokens: list[Token], text: str = "") -> list[Token]:
    """'Human immunodeficiency virus (HIV)': a concept restated in parentheses is one mention, whether the
    abbreviation names the same concept or is a word the vocabulary does not know whose letters abbreviate the
    mention ('acute lymphoblastic leukemia (ALL)', 'myelodysplastic syndrome (MDS)')."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1 : i + 4]
        pair = nxt[:2]
        if (  # "(ALL)": a filler word the scanner dropped between the brackets
            tok.type in _CONCEPT_TYPES
            and text
            and len(pair) == 2
            and pair[0].type == "LPAR"
            and pair[1].type == "RPAR"
            and _abbreviates(
                text[pair[0].end_pos or 0 : pair[1].start_pos or 0].strip(), text[tok.start_pos or 0 : tok.end_pos or 0]
            )
        ):
            out.append(_token(tok.type, tok.value, tok.start_pos or 0, pair[1].end_pos or 0))
            i += 3
            continue
        if (
            tok.type in _CONCEPT_TYPES
            and len(nxt) == 3
            and nxt[0].type == "LPAR"
            and nxt[2].type == "RPAR"
            and (
                (nxt[1].type == tok.type and nxt[1].value == tok.value)
                or (
                    nxt[1].type == "WORD"
                    and bool(text)
                    and _abbreviates(str(nxt[1].value), text[tok.start_pos or 0 : tok.end_pos or 0])
                )
            )
        ):
            out.append(_token(tok.type, tok.value, tok.start_pos or 0, nxt[2].end_pos or 0))
            i += 4
            continue
        out.append(tok)
        i += 1
    return out


class _Scanner:
    def __init__(self, text: str, vocab: Vocabulary, m: _Matchers, lex: Lexicon):
        self.text, self.vocab, self.m, self.lex = text, vocab, m, lex
        self.tokens: list[Token] = []

    def scan(self) -> Iterator[Token]:
        pos, text = 0, self.text
        while pos < len(text):
            if text[pos].isspace():
                pos += 1
                continue
            tok = self._next(pos)
            if tok is None:
                pos += 1
                continue
            if tok.type != "FILLER":
                self.tokens.append(tok)
                yield tok
            pos = max(tok.end_pos or pos + 1, pos + 1)

    def _last(self) -> str | None:
        return self.tokens[-1].type if self.tokens else None

    def _next(self, pos: int) -> Token | None:
        text = self.text
        review = _REVIEW_RE.match(text, pos)
        if review:
            return _token("REVIEW", review.group(1).strip(), pos, review.end())
        if self._last() == "NUMBER":
            unit = self._unit(pos)
            if unit is not None:
                return unit
        number = self._number(pos)
        if number is not None:
            return number
        return self._words(pos)

    def _number(self, pos: int) -> Token | None:
        m = _NUMBER_RE.match(self.text, pos)
        if m and (pos == 0 or not self.text[pos - 1].isalpha()):
            return _token("NUMBER", m.group(1).replace(",", ""), pos, m.end())
        return None

    def _unit(self, pos: int) -> Token | None:
        text = self.text
        if self.m.time_unit is not None:
            tm = self.m.time_unit.match(text, pos)
            if tm and _word_boundary_ok(text, pos):
                unit = _folded_key(self.lex.time_units, tm.group(0))
                return _token("TIMEUNIT", unit, pos, tm.end())
        sci = _SCI_UNIT_RE.match(text, pos)
        if sci:
            return self._unit_token(sci.group(0), pos, sci.end())
        prod = _PRODUCT_UNIT_RE.match(text, pos)
        if prod:
            tok = self._unit_token(prod.group(0), pos, prod.end())
            if not tok.value.startswith("?"):
                return tok
        gen = _GENERIC_UNIT_RE.match(text, pos)
        if gen:
            cand = gen.group(0)
            # A full stop that ends the sentence is not part of the unit ("<= 1.5 mg/dL.").
            stripped = cand.rstrip(".")
            if stripped != cand and stripped and self._readable(stripped):
                return self._unit_token(stripped, pos, pos + len(stripped))
            if "/" in cand or cand in _STANDALONE_UNITS or cand in {"%", "‰"}:
                tok = self._unit_token(cand, pos, gen.end())
                if tok.value or "/" in cand:
                    return tok
        # Unit words without a slash ("470 ms", "20 mm Hg", "85 kg"): the extractor's table, taking
        # only what the clinical registry reads, so both read the same unit from the same text.
        word = UNIT_WORD_RE.match(text, pos)
        if word and word.group(0).strip().lower() not in EXTRA_UNITS:
            written = canonical_written(word.group(0))
            if written is not None:
                return _token("UNIT", written, pos, word.end())
        return None

    @staticmethod
    def _readable(written: str) -> bool:
        try:
            canonical_unit(written)
        except UnitError:
            return False
        return True

    def _unit_token(self, written: str, start: int, end: int) -> Token:
        try:
            return _token("UNIT", canonical_unit(written), start, end)
        except UnitError:
            # Keep the written form: the evaluator reports it as an unknown unit.
            return _token("UNIT", "?" + written, start, end)

    def _words(self, pos: int) -> Token | None:
        text = self.text
        if not _word_boundary_ok(text, pos) and text[pos].isalnum():
            m = _WORD_RE.match(text, pos)
            return _token("WORD", m.group(0), pos, m.end()) if m else None
        best: tuple[int, str, str] | None = None  # (end, type, value)
        for kind, match in self._candidates(pos):
            if best is None or match[0] > best[0]:
                best = (match[0], kind, match[1])
        if best is not None:
            end, kind, value = best
            return self._contextual(kind, value, pos, end)
        word = _WORD_RE.match(text, pos)
        if word:
            low = word.group(0).lower()
            if low == "of":
                kind = "PRIOR" if self._last() == "TIMEUNIT" else "FILLER"
                return _token(kind, "of", pos, word.end())
            if low in self.lex.number_words:
                return _token("NUMBER", str(self.lex.number_words[low]), pos, word.end())
            if _relational_person(text, pos, low):
                return _token("PERSON", word.group(0), pos, word.end())
            return _token("WORD", word.group(0), pos, word.end())
        return _token("PUNCT", text[pos], pos, pos + 1)

    def _candidates(self, pos: int) -> Iterator[tuple[str, tuple[int, str]]]:
        text, m = self.text, self.m
        if m.abbreviation is not None:
            am = m.abbreviation.match(text, pos)
            if am and _word_boundary_ok(text, pos):
                cid = m.abbreviation_ids[am.group(0)]
                yield self._concept_kind(cid), (am.end(), cid)
        if m.synonym is not None and _word_boundary_ok(text, pos):
            sm = m.synonym.match(text, pos)
            if sm:
                cid = _folded_key(m.synonym_ids, sm.group(0))
                yield self._concept_kind(cid), (sm.end() + 0, cid)
        if m.phrase is not None:
            pm = m.phrase.match(text, pos)
            if pm and (_word_boundary_ok(text, pos) or not text[pos].isalnum()):
                kind, value = _folded_key(self.lex.phrases, pm.group(0))
                # Function words win ties over concepts: "+1" keeps them ahead in the max().
                yield kind, (pm.end() + 0, value)
        if m.filler is not None and _word_boundary_ok(text, pos):
            fm = m.filler.match(text, pos)
            if fm:
                yield "FILLER", (fm.end(), fm.group(0))

    def _concept_kind(self, concept_id: str) -> str:
        concept = self.vocab[concept_id]
        if concept.category == "lab":
            return "QLAB" if concept.qualitative else "LAB"
        return CATEGORY_TOKEN[concept.category]

    def _contextual(self, kind: str, value: str, start: int, end: int) -> Token:
        """Resolve the few tokens whose type depends on the previous token."""
        last = self._last()
        if kind == "HIGHER" and last != "TIMES":
            kind, value = "CMP", ">"
        elif kind == "CMP" and value == ">" and last == "TIMES":
            kind = "HIGHER"
        if kind == "INCLUDING" and value == "like" and start > 0 and self.text[start - 1] in "-‐":
            return _token("WORD", self.text[start:end], start, end)  # "flu-like", "lupus-like"
        if kind == "TIMES" and last != "NUMBER":
            return _token("WORD", self.text[start:end], start, end)
        if kind == "DASH" and value == "to" and last not in ("NUMBER", "TIMEUNIT", "UNIT"):
            return _token("FILLER", value, start, end)
        if kind == "DASH" and last in _CONCEPT_TYPES and _STATUS_SUFFIX.match(self.text, start):
            return _token("FILLER", value, start, end)  # "HIV-positive", "HBsAg-negative": one word for the status
        if kind == "PRIOR" and last not in ("TIMEUNIT", "ANCHOR") and value.lower() == "prior":
            return _token("HISTORY", value, start, end)
        return _token(kind, value, start, end)


@cache
def _other_person_words() -> tuple[frozenset[str], frozenset[str], int]:
    data = lexicon_data()["other_person"]
    lower = frozenset(w.lower() for w in data["relational"]), frozenset(w.lower() for w in data["cues"])
    return lower[0], lower[1], int(data["cue_window"])


_PLAIN_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def _relational_person(text: str, pos: int, low: str) -> bool:
    """ "Have a child aged 3-18", "women with children under 5": a child word after a cue is another person.

    Without a cue ("Children aged 6-12 years") the word names the participants themselves.
    """
    relational, cues, window = _other_person_words()
    if low not in relational:
        return False
    before = [m.group(0).lower() for m in _PLAIN_WORD_RE.finditer(text[max(0, pos - 60) : pos])][-window:]
    return any(w in cues for w in before)
