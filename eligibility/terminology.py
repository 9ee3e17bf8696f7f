"""Condition names -> ICD-10-CM codes, from a compact index of the tabular list.

The hand-written vocabulary (``data/concepts.yaml``) cannot name every condition a criterion may
mention; this module finds the ICD-10-CM code a condition phrase names, so that a phrase the
vocabulary does not know still reads ("Celiac disease" -> K90.0 and descendants).

The index (``data/icd10cm_index.json.gz``) is generated from simple-icd-10-cm by
``benchmarks/build_icd10cm_index.py`` and loaded on first use, never at import (``eligibility
screen`` start-up stays fast). It holds:

- ``titles``: normalised phrase -> codes whose *title* (description) says exactly that phrase, after
  dropping "unspecified", "NOS" and a leading "Other" (marked ``*``: "Other X" proves X, but a
  record saying X is no "Other X"). A record of such a code proves the phrase, which is why only
  titles serve to read criteria.
- ``terms``: normalised inclusion term -> codes. An inclusion term is coded to its code, but the
  code may be broader ("Intermittent claudication" is under I73.9 Peripheral vascular disease), so a
  record of the code does not prove the term: inclusion terms serve only to read a record's text
  (a SNOMED CT display "Nontropical sprue" is a K90.0 celiac disease), never a criterion.
- ``codes``: code -> title, for explanations and the hierarchy (an ICD-10-CM code's descendants are
  the codes it prefixes; a block "I70-I79" holds the categories in its range).

Normalisation (:func:`normalise`) makes equal what differs only in case, plural, word order,
"disease"/"disorder", hyphens, possessives and British/American spelling; it never cuts a word.
"""

from __future__ import annotations

import gzip
import json
import pickle
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import IO, Any

from .data import load_yaml, word_list, word_map
from .gcpause import gc_paused
from .usercache import cached_pickle, digest

INDEX_FILE = "icd10cm_index.json.gz"
ABBREVIATIONS_FILE = "condition_abbreviations.yaml"

# The word lists of normalisation and refusal are data: ``data/icd10cm_words.yaml`` says what each is for.
WORDS_FILE = "icd10cm_words.yaml"
# Words that join the next part of a hyphenated word ("non-Hodgkin" is one word, never "Hodgkin").
_JOINING_PREFIXES = word_list(WORDS_FILE, "joining_prefixes")
# Words dropped from the bag of words: they carry no meaning that word order would not also carry.
_DROPPED = word_list(WORDS_FILE, "dropped")
# British -> American spellings that a letter rule (ae/oe -> e) does not cover.
_SPELLING = word_map(WORDS_FILE, "spelling")
_WORD_RE = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=65536)
def _word(word: str) -> str:
    word = _SPELLING.get(word, word)
    if len(word) > 3:
        word = word.replace("ae", "e").replace("oe", "e")
        word = re.sub(r"is(ed|ing|ation)$", r"iz\1", word)
    if word in ("disorder", "disorders", "diseases"):
        return "disease"
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    """The normalised words of a phrase, in order."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"'s\b|s'(?=\s|$)", "", text)
    text = text.replace("'", "")

    def hyphen(m: re.Match[str]) -> str:
        return m.group(1) + ("" if m.group(1) in _JOINING_PREFIXES else " ")

    text = re.sub(r"\b([a-z]+)\s*-\s*(?=[a-z0-9])", hyphen, text)
    out = [_word(w) for w in _WORD_RE.findall(text)]
    # "type II" is "type 2"
    romans = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}
    return tuple(romans[w] if i and out[i - 1] == "type" and w in romans else w for i, w in enumerate(out))


def normalise(text: str) -> str:
    """The index key of a phrase: its normalised words without articles, in sorted order."""
    return " ".join(sorted(w for w in words(text) if w not in _DROPPED))


@dataclass(frozen=True)
class TermMatch:
    """What a phrase names in ICD-10-CM: codes (each with its descendants) whose titles say it.

    Several codes in one block ("Other epilepsy" G40.80, "Epilepsy, unspecified" G40.9) are one
    condition: a record of any of them proves it. Codes in unrelated blocks ("Pain, not elsewhere
    classified" G89, "Pain, unspecified" R52) may be different senses of the words: ``ambiguous``.
    """

    codes: tuple[str, ...]
    titles: tuple[str, ...]
    ambiguous: bool = False

    @property
    def source(self) -> str:
        """The explanation's words: 'ICD-10-CM I73.9 Peripheral vascular disease, unspecified, and descendants'."""
        named = ", ".join(f"{c} {t}" for c, t in zip(self.codes, self.titles, strict=True))
        return f"ICD-10-CM {named}, and descendants"


class Terminology:
    """The ICD-10-CM index, with lookups by phrase (criteria) and by record text."""

    def __init__(
        self,
        data: dict[str, Any],
        abbreviations: dict[str, str],
        fingerprint: str = "",
        phrases: dict[str, str] | None = None,
    ):
        self.titles: dict[str, Sequence[str]] = data["titles"]
        self.terms: dict[str, Sequence[str]] = data["terms"]
        self.codes: dict[str, str] = data["codes"]
        self.version: str = data.get("version", "")
        # a hash of the shipped index file, naming what is derived from it in the start-up cache ("": none)
        self.fingerprint = fingerprint
        self.abbreviations = abbreviations
        # whole phrases (any case) that criteria use for a title worded otherwise: "diabetes" is diabetes mellitus
        self.phrases = {k.lower(): v for k, v in (phrases or {}).items()}
        self._by_text: dict[str, tuple[str, ...]] = {}

    # Built on first use: screening a record by its text needs neither (0.1-0.2 s of the index's load).
    @cached_property
    def blocks(self) -> tuple[str, ...]:
        return tuple(c for c in self.codes if "-" in c)

    @cached_property
    def known_words(self) -> frozenset[str]:
        return frozenset(w for key in self.titles for w in key.split())

    def may_name(self, word: str) -> bool:
        """Whether a word can be part of a title phrase (cheap test before any lookup)."""
        return word in self.abbreviations or all(w in self.known_words or w in _DROPPED for w in words(word))

    def title(self, code: str) -> str:
        return self.codes.get(code, "")

    @lru_cache(maxsize=65536)  # noqa: B019 - one Terminology per process, kept for its lifetime
    def lookup(self, phrase: str) -> TermMatch | None:
        """The code a condition phrase names by an ICD-10-CM title, or None.

        A phrase with a relative word ("other", "another") or a negation is never looked up: "other
        malignancy" means one besides the trial's disease, not ICD-10-CM's "Other" residual codes.
        Several codes that are not ancestor and descendant of each other make an ambiguous match.
        """
        expanded = self.abbreviations.get(phrase.strip()) or self.phrases.get(" ".join(phrase.lower().split()), phrase)
        ws = words(expanded)
        if not ws or any(w in _REFUSED for w in ws):
            return None
        found = self.titles.get(normalise(expanded))
        if not found:
            return None
        codes = _roots([c.rstrip("*") for c in found])
        return TermMatch(tuple(codes), tuple(self.title(c) for c in codes), not _one_block(codes))

    def codes_for_text(self, text: str) -> tuple[str, ...]:
        """ICD-10-CM codes a record's whole label names (a title or an inclusion term), for text matching.

        A SNOMED CT semantic tag ("(disorder)") is dropped first. Only an unambiguous whole-label match
        counts: a label naming codes in unrelated places gives nothing.
        """
        found = self._by_text.get(text)
        if found is None:
            found = self._by_text[text] = self._codes_for_text(text)
        return found

    def _codes_for_text(self, text: str) -> tuple[str, ...]:
        label = re.sub(r"\s*\((disorder|finding|situation|morphologic abnormality|event|clinical finding)\)\s*$",
                       "", text.strip(), flags=re.I)  # fmt: skip
        ws = words(label)
        if not ws or any(w in _REFUSED for w in ws):
            return ()
        key = normalise(label)
        found = [c for c in self.titles.get(key, ()) if not c.endswith("*")] or self.terms.get(key)
        if not found:
            return ()
        roots = _roots(found)
        return tuple(roots) if _one_block(roots) else ()


def unspecified_counterparts(
    terminology: Terminology, roots: tuple[str, ...], expanded: tuple[str, ...]
) -> tuple[str, ...]:
    """Codes outside ``expanded`` that name a qualified root's condition without its qualifier, as unspecified.

    "Chronic viral hepatitis" (B18): B19 "Unspecified viral hepatitis C" does not say chronic or acute, so a
    patient coded there may have it; "Chronic prostatitis" (N41.1): the inclusion term "Prostatitis NOS" under
    N41.9. Also a code's unspecified siblings: G47.30 "Sleep apnea, unspecified" may be the obstructive kind
    (G47.33), C83.9 "Non-follicular (diffuse) lymphoma, unspecified" may be Burkitt lymphoma (C83.7), since a
    coder who did not know the kind used the parent's "unspecified" child (audit seed 17). Such codes are the
    borderline of the derived concept (read with and without them), so a record of one alone is unknown while
    closed world still holds for everyone else.
    """
    index = _word_index(terminology)

    def inside(code: str) -> bool:
        return any(_contains(e, code) for e in expanded)

    found: set[str] = _unspecified_siblings(terminology, roots, inside)
    for root in roots:
        name = _name_words(terminology.title(root))
        qualifiers = frozenset(name) & _QUALIFIERS
        bare = [w for w in name if w not in qualifiers]
        if not qualifiers or not bare or not all(w in index for w in bare):
            continue
        for key in frozenset.intersection(*(index[w][1] for w in bare)):
            if frozenset(key.split()) == frozenset(bare):  # an inclusion term naming it bare ("Prostatitis NOS")
                found |= {c for c in terminology.terms[key] if not inside(c)}
        for marker in ("unspecified", "nos"):  # a title "..., unspecified"
            rest = [*bare, marker]
            if all(w in index for w in rest):
                found |= {
                    c
                    for c in frozenset.intersection(*(index[w][0] for w in rest))
                    if not inside(c) and not frozenset(words(terminology.title(c))) & _QUALIFIERS  # B17.9 is acute
                }
    return tuple(_roots(sorted(found)))


def _unspecified_siblings(terminology: Terminology, roots: tuple[str, ...], inside: Callable[[str], bool]) -> set[str]:
    """The children of each root's parent that are titled "unspecified" and name the root's kind of condition.

    None for a category or a block: the next level up is a block, whose unspecified codes name too wide a class
    to stand for this condition. The sibling must share a specific word of the root's name: K90.9 "Intestinal
    malabsorption, unspecified" is a syndrome celiac disease (K90.0) is one cause of, not a celiac disease
    coded without its kind.
    """
    codes = _sorted_codes(terminology)
    found: set[str] = set()
    for root in roots:
        if "-" in root or len(root) <= 3 or "unspecified" in words(terminology.title(root)):
            continue
        name = _name_words(terminology.title(root)) - _GENERIC_HEADS
        parent = root[:-1].rstrip(".")
        start, stop = bisect_left(codes, parent), bisect_right(codes, parent + "\uffff")
        for code in codes[start:stop]:
            title = terminology.title(code)
            if len(code) != len(root) or code == root or inside(code) or "unspecified" not in words(title):
                continue
            if name & _name_words(title):
                found.add(code)
    return found


# Words of a condition's name too general to say that two codes name the same kind of condition.
_GENERIC_HEADS = word_list(WORDS_FILE, "generic_heads")


# Words that narrow a condition to one course or kind: a code elsewhere naming the condition as
# "unspecified" may be that kind (``unspecified_counterparts``).
_QUALIFIERS = word_list(WORDS_FILE, "qualifiers")

# A phrase containing one of these is not a condition name that a code could prove.
_REFUSED = word_list(WORDS_FILE, "refused")


def _contains(ancestor: str, code: str) -> bool:
    """Whether ``code`` is ``ancestor`` or one of its descendants (codes with dots, blocks as 'A00-B99')."""
    if ancestor == code:
        return True
    if "-" in ancestor:
        low, high = ancestor.split("-")
        if "-" in code:
            inner_low, inner_high = code.split("-")
            return low <= inner_low and inner_high <= high
        return low <= code[:3] <= high
    if "-" in code:
        return False
    return code.replace(".", "").startswith(ancestor.replace(".", ""))


def _roots(codes: Sequence[str]) -> list[str]:
    """The codes not contained in another of the list (ancestors absorb their descendants)."""
    return [c for c in codes if not any(o != c and _contains(o, c) for o in codes)]


def _one_block(codes: list[str]) -> bool:
    """Whether the codes share a category, or all lie in one block of the tabular list."""
    if len({c[:3] for c in codes}) == 1:
        return True
    return _block_of(codes[0]) is not None and all(_block_of(c) == _block_of(codes[0]) for c in codes)


def _block_of(code: str) -> str | None:
    """The narrowest block holding a code (a block's own enclosing block)."""
    head = code.split("-")[0][:3]
    inner = [b for b in default_terminology().blocks if b != code and _contains(b, head)]
    if not inner:
        return None
    low = max(b.split("-")[0] for b in inner)
    narrowest: str = min((b for b in inner if b.startswith(low + "-")), key=lambda b: b.split("-")[1])
    return narrowest


def block_categories(terminology: Terminology, block: str) -> tuple[str, ...]:
    """The categories (three-character codes) inside a block such as 'I70-I79'."""
    low, high = block.split("-")
    return tuple(c for c in terminology.codes if "-" not in c and len(c) == 3 and low <= c <= high)


# Title words that name no condition: a code's "name" is its title without them ("Other rheumatoid
# arthritis, unspecified site" names rheumatoid arthritis).
_RESIDUAL = word_list(WORDS_FILE, "residual")


_PARENTHESES_RE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")  # "Acute lymphoblastic leukemia [ALL]" names it without "all"


def _name_words(title: str) -> frozenset[str]:
    """The words a title's name needs; words in parentheses are nonessential modifiers (ICD-10-CM convention):
    "Fatty (change of) liver" names fatty liver, so K70.0 "Alcoholic fatty liver" names it too."""
    head = _PARENTHESES_RE.sub(" ", title.split(",")[0])
    return frozenset(w for w in words(head) if w not in _DROPPED and w not in _RESIDUAL)


@cache
def _sorted_codes(terminology: Terminology) -> list[str]:
    return sorted(c for c in terminology.codes if "-" not in c)


def _names(name: frozenset[str], title: str) -> bool:
    """Whether a child's title names the condition in the patient: every word of the name before any "without"
    (H40.06 "Primary angle closure without glaucoma damage" is no glaucoma), and not a suspect, carrier or
    screening code (H40.0 "Glaucoma suspect")."""
    found = words(title)
    if "without" in found:
        found = found[: found.index("without")]
    return name <= frozenset(found) and not frozenset(words(title)) & _NOT_AN_INSTANCE


def naming_descendants(terminology: Terminology, roots: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """The codes under ``roots`` whose titles still name what the root names, as prefixes, and whether
    any was left out.

    A category's children are not always kinds of it: M06 "Other rheumatoid arthritis" holds M06.1
    "Adult-onset Still's disease", and the block E70-E88 "Metabolic disorders" holds E86 "Dehydration".
    A record of such a child does not prove the phrase, so only descendants whose titles carry every
    word of the root's name count; the rest stay unknown (open world), never a false "has it".
    """
    out: list[str] = []
    pruned = False
    codes = _sorted_codes(terminology)
    for root in roots:
        name = _name_words(terminology.title(root))
        low, high = root.split("-") if "-" in root else (root, root)
        # descendants are one run of the sorted codes: from the low code up to the last code under high
        start, stop = bisect_left(codes, low), bisect_right(codes, high + "\uffff")
        under = [c for c in codes[start:stop] if c != root and _contains(root, c)]
        naming = {c for c in under if _names(name, terminology.title(c))}
        if len(naming) == len(under):
            out.extend(block_categories(terminology, root) if "-" in root else (root,))
            continue
        pruned = True
        # the largest kept codes whose every descendant is kept (prefix matching takes the rest)
        for c in sorted(naming, key=len):
            if any(_contains(o, c) for o in out):
                continue
            if all(d in naming for d in under if _contains(c, d)):
                out.append(c)
    return tuple(out), pruned


@cache
def default_terminology() -> Terminology:
    """The shipped index, read on first use, never at import.

    Decompressing and decoding the JSON took 0.1-0.15 s CPU of the first screening of a SNOMED CT record
    (matched by text). The decoded index is kept in the start-up cache (:mod:`eligibility.usercache`, named
    by the hash of the shipped file) and read back with the cyclic garbage collector paused (:mod:`gcpause`:
    its 100,000 lists hold only strings, yet allocating them ran collections that walk every object of the
    process). About 0.05 s now.
    """
    data_dir = resources.files("eligibility.data")
    with data_dir.joinpath(INDEX_FILE).open("rb") as fh:
        raw = fh.read()
    fingerprint = digest(raw)
    with gc_paused():
        data = cached_pickle("icd10cm", digest(fingerprint, "tuples"), lambda: _decode(raw), _dump, pickle.load)
    abbreviations = load_yaml(data_dir.joinpath(ABBREVIATIONS_FILE).read_text(encoding="utf-8"))
    return Terminology(
        data, dict(abbreviations["abbreviations"]), fingerprint, dict(abbreviations.get("phrases") or {})
    )


def _decode(raw: bytes) -> dict[str, Any]:
    """The index, its code lists as tuples: a tuple of strings leaves the collector's care at the first
    collection it survives, so 100,000 of them never make a full collection walk them (lists would)."""
    data: dict[str, Any] = json.loads(gzip.decompress(raw).decode("utf-8"))
    for table in ("titles", "terms"):
        data[table] = {key: tuple(codes) for key, codes in data[table].items()}
    return data


def _dump(data: Any, fh: IO[bytes]) -> None:
    pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)


# Title words that mark a code as not recording the condition in the patient: a relative's history, a
# carrier state, a screening or an encounter (``Z14.1 Cystic fibrosis carrier`` is no cystic fibrosis).
_NOT_AN_INSTANCE = word_list(WORDS_FILE, "not_an_instance")


_WordIndex = dict[str, tuple[frozenset[str], frozenset[str]]]


@cache
def _word_index(terminology: Terminology) -> _WordIndex:
    """Normalised word -> (codes whose title has it, inclusion-term keys that have it), built once.

    Building it normalises every title (about 0.5 s CPU, once per process that derives a condition), so
    for the shipped index it is kept in the start-up cache, named by the index file's hash and this
    module's source and word lists (the normalisation is their code), and read back with the collector paused.
    """
    if not terminology.fingerprint:
        return _build_word_index(terminology)
    words_text = resources.files("eligibility.data").joinpath(WORDS_FILE).read_bytes()
    key = digest(terminology.fingerprint, Path(__file__).read_bytes(), words_text)
    with gc_paused():
        index: _WordIndex = cached_pickle(
            "icd10cm-words", key, lambda: _build_word_index(terminology), _dump, pickle.load
        )
    return index


def _build_word_index(terminology: Terminology) -> _WordIndex:
    titles: dict[str, set[str]] = {}
    terms: dict[str, set[str]] = {}
    for code in _sorted_codes(terminology):
        for w in set(words(terminology.title(code))):
            titles.setdefault(w, set()).add(code)
    for key in terminology.terms:
        for w in set(key.split()):
            terms.setdefault(w, set()).add(key)
    return {w: (frozenset(titles.get(w, ())), frozenset(terms.get(w, ()))) for w in titles.keys() | terms.keys()}


def naming_elsewhere(
    terminology: Terminology, roots: tuple[str, ...], expanded: tuple[str, ...]
) -> tuple[str, ...] | None:
    """The codes outside ``expanded`` whose title or inclusion term carries every word of a root's name (those
    that keep it from :func:`closed_extent`), as roots; None when a name word is not in the index (cannot tell).

    An exception needs them: "other than fatty liver" must leave out K70.0 "Alcoholic fatty liver" as well as
    K76.0 "Fatty (change of) liver", or a patient with an alcoholic fatty liver counts as another liver disease.
    """
    index = _word_index(terminology)

    def inside(code: str) -> bool:
        return any(_contains(e, code) for e in expanded)

    found: set[str] = set()
    for root in roots:
        name = _name_words(terminology.title(root))
        if not name or any(w not in index for w in name):
            return None
        for code in frozenset.intersection(*(index[w][0] for w in name)):
            if not inside(code) and not frozenset(words(terminology.title(code))) & _NOT_AN_INSTANCE:
                found.add(code)
        for key in frozenset.intersection(*(index[w][1] for w in name)):
            if not frozenset(key.split()) & _NOT_AN_INSTANCE:
                found |= {c for c in terminology.terms[key] if not inside(c)}
    return tuple(_roots(sorted(found)))


_RESIDUAL_CHAPTERS = word_list(WORDS_FILE, "residual_chapters")
_CAUSE_CODED_WORDS = word_list(WORDS_FILE, "cause_coded_words")
_CAUSE_CODED_SUFFIXES = word_list(WORDS_FILE, "cause_coded_suffixes")


def _residual(terminology: Terminology, code: str) -> bool:
    """Whether the code's condition is also coded elsewhere, so its absence proves nothing: a residual (a chapter
    of findings not elsewhere classified, a title saying "not elsewhere classified" or "unspecified"), or an
    inflammation or infection, which ICD-10-CM also files under its organism."""
    if code[:1].lower() in _RESIDUAL_CHAPTERS:
        return True
    name = words(terminology.title(code))
    if "unspecified" in name:
        return True  # N23 "Unspecified renal colic": the code of the condition when nothing more is known about it;
        # a renal colic from a stone is coded with the stone (N20-N22), so no N23 record proves none (seed 22)
    if code[:1].upper() not in ("A", "B") and any(
        w in _CAUSE_CODED_WORDS or w.endswith(tuple(_CAUSE_CODED_SUFFIXES)) for w in name
    ):
        return True  # an inflammation or infection is also coded by its organism (chapters A-B)
    stem = code.split("-")[0]
    ancestors = {stem[:k].rstrip(".") for k in range(3, len(stem) + 1)}
    return any("not elsewhere classified" in terminology.title(a).lower() for a in ancestors)


def closed_extent(
    terminology: Terminology, roots: tuple[str, ...], expanded: tuple[str, ...], pruned: bool
) -> str | None:
    """Why absence of every code in ``expanded`` proves absence of what ``roots`` name, or None.

    Earned mechanically: the roots' descendants all name it (nothing was ``pruned``, so ``expanded`` is the
    whole subtree), and no code elsewhere in ICD-10-CM has a title or an inclusion term carrying every word
    of a root's name, except codes that do not record the condition in the patient (family history,
    carrier, screening, encounter). "Tuberculosis" fails (O98.0 tuberculosis complicating pregnancy lies
    outside A15-A19), "Hepatic failure" fails (K70.4 alcoholic hepatic failure is outside K72); "Celiac
    disease" (K90.0) holds. A word-set test, so it errs towards open world, never the other way.
    """
    if pruned or any(_residual(terminology, root) for root in roots):
        return None
    index = _word_index(terminology)

    def inside(code: str) -> bool:
        return any(_contains(e, code) for e in expanded)

    for root in roots:
        name = _name_words(terminology.title(root))
        if not name or any(w not in index for w in name):
            return None
        codes = frozenset.intersection(*(index[w][0] for w in name))
        keys = frozenset.intersection(*(index[w][1] for w in name))
        for code in codes:
            if not inside(code) and not frozenset(words(terminology.title(code))) & _NOT_AN_INSTANCE:
                return None
        for key in keys:
            if not frozenset(key.split()) & _NOT_AN_INSTANCE and not all(inside(c) for c in terminology.terms[key]):
                return None
    named = ", ".join(f"{c} {terminology.title(c)}" for c in roots)
    return (
        f"{terminology.version or 'ICD-10-CM'}: every code whose title or inclusion term names {named} lies "
        "under it (checked mechanically), so no record of it means none"
    )
