"""Recognise section headers ("Inclusion criteria:") and intro lines that switch the section.

A header says which kind the criteria below it are. Real registry text spells headers in many ways
("Inclusion conditions", "INCLUSION:", "Key exclusion criteria", "Criteria for inclusion", misspelt kind words,
a combined "Inclusion and exclusion criteria" above sub-headers), and sentences such as "The following patients
will be excluded:" switch the section as a header does. The words are data (``data/sections.yaml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from eligibility.data import load_yaml
from eligibility.io.textclean import Line, is_space, quick_clean

Kind = Literal["inclusion", "exclusion", "unspecified"]


@cache
def sections_data() -> dict[str, Any]:
    """``data/sections.yaml`` as read (once): header, intro and lead-in words."""
    text = resources.files("eligibility.data").joinpath("sections.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = load_yaml(text)
    return data


def phrase_re(phrases: list[str]) -> re.Pattern[str]:
    """Whole-word, case-insensitive alternation of phrases, longest first."""
    alts = sorted({p.lower() for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(a) for a in alts) + r")(?![\w-])", re.I)


@cache
def _tables() -> dict[str, Any]:
    h = sections_data()["headers"]
    i = sections_data()["intros"]
    misspelt = {w: "inclusion" for w in h["misspelt_inclusion"]}
    misspelt |= {w: "exclusion" for w in h["misspelt_exclusion"]}
    misspelt |= {w: "criteria" for w in h["misspelt_nouns"]}
    return {
        "inc": phrase_re(h["inclusion"]),
        "exc": phrase_re(h["exclusion"]),
        "noun": phrase_re(h["nouns"]),
        "short_inc": {p.lower() for p in h["short_inclusion"]},
        "short_exc": {p.lower() for p in h["short_exclusion"]},
        "requirements": {p.lower() for p in h["requirements"]},
        "misspelt": misspelt,
        "intro_exc": phrase_re(i["exclusion"]),
        "intro_inc": phrase_re(i["inclusion"]),
        "switching": phrase_re(i["switching"]),
    }


_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*")


def _normalise(head: str) -> str:
    """The header in lower case with misspelt kind words ("Inclsion Critera") spelt right."""
    misspelt: dict[str, str] = _tables()["misspelt"]
    return _WORD_RE.sub(lambda m: misspelt.get(m.group(0).lower(), m.group(0).lower()), head)


def _inclusion_word(norm: str) -> bool:
    """An inclusion kind word that is not part of "non-inclusion" (an exclusion header)."""
    return any(not re.search(r"non[- ]?$", norm[: m.start()]) for m in _tables()["inc"].finditer(norm))


_HEADER_STOP_RE = re.compile(
    r"\b(?:apply|applies|may|could|must|should|defined|see|refer|omitted|met|meet|meets|listed|were|was"
    r"|not|if)\b",
    re.I,
)
_QUALIFIER_NOISE = {
    "key", "main", "major", "principal", "general", "basic", "core", "study", "trial", "protocol", "eligibility",
    "the", "other", "criteria", "criterion", "criterium", "criterias", "conditions", "requirements",
    "characteristics", "factors", "items", "inclusion", "inclusions", "inclusionary", "exclusion", "exclusions",
    "exclusionary", "excusion", "non", "include", "includes", "included", "exclude", "excluded", "eligible",
    "ineligible",
    "are", "is", "as", "follows", "will",
    "be", "following", "and", "list", "of", "summary", "selected", "important", "most", "relevant", "for",
    "patient", "patients", "participant", "participants", "subject", "subjects",
}  # fmt: skip


@dataclass
class Header:
    """A recognised header or intro line and what remains on its line.

    ``kind`` "unspecified" is a combined header ("Inclusion and exclusion criteria") that only announces
    the sub-headers below it. An intro (``intro``) is a sentence that switches the section and also
    heads the items below it (``text``), since its words may say how they combine ("... any of the
    following:").
    """

    kind: Kind
    qualifier: str | None
    rest: int | None  # offset where inline text after the header starts, if any
    intro: bool  # an intro sentence ("... excluded if any of the following apply:")
    text: str = ""
    switch: bool = True  # an intro about taking part switches the section anywhere; "must (not)" only at the top


def strip_decoration(text: str) -> str:
    """Remove Markdown heading hashes, emphasis and stray punctuation around a header."""
    text = text.strip()
    text = re.sub(r"^#+\s*", "", text)
    return text.strip("*_ \t").strip()


def _kind_of_head(norm: str, line: Line, sep: bool) -> Kind | None:
    """The kind a header's head names, or None when the head is not a header."""
    t = _tables()
    inc, exc = _inclusion_word(norm), bool(t["exc"].search(norm))
    words = norm.split()
    bare = re.sub(r"[^a-z\s-]", " ", norm).split()
    if _HEADER_STOP_RE.search(norm) or norm.endswith("."):
        return None
    if not sep and line.marked and len(words) > 4:
        return None  # "- Inclusion criteria of the parent study" is an item; "1. Inclusion criteria" a header
    if inc and exc:
        # "Inclusion and exclusion criteria", "Inclusion/Exclusion": announces the sub-headers below.
        if len(words) <= 8:
            return "unspecified"
        return None
    if inc or exc:
        criteria_like = bool(t["noun"].search(norm)) or all(
            w in {"inclusion", "inclusions", "exclusion", "exclusions", "non-inclusion", "non", "key", "main"}
            or w in _QUALIFIER_NOISE
            for w in bare
        )
        if criteria_like and len(words) <= 12:
            return "inclusion" if inc else "exclusion"
        return None
    short = " ".join(bare)
    if len(bare) <= 3 and (sep or not line.marked):
        if short in t["short_inc"] or (len(bare) > 1 and bare[-1] in t["short_inc"] and bare[0] in _QUALIFIER_NOISE):
            return "inclusion"
        if short in t["short_exc"] or (len(bare) > 1 and bare[-1] in t["short_exc"] and bare[0] in _QUALIFIER_NOISE):
            return "exclusion"
    core = " ".join(w for w in bare if w not in {"key", "main", "general", "study", "trial", "the", "other"})
    if core in t["requirements"]:
        return "inclusion"
    return None


def match_header(raw: str, line: Line, prev_content: bool) -> Header | None:
    """Recognise a section header or an intro line (see rule 1 of the criteria_text docstring)."""
    text = line.text
    if len(text) > 400:
        return None
    sep = None
    for m in re.finditer(r":|--|—|\s-\s", text):
        sep = m
        break
    head_raw = text[: sep.start()] if sep else text
    head = strip_decoration(quick_clean(head_raw))
    rest_text = text[sep.end() :] if sep else ""
    has_rest = bool(rest_text.strip(" \t*_:"))
    ends_colon = text.rstrip("*_ ").endswith(":")

    kind: Kind | None = None
    if head and not (prev_content and head[:1].islower() and sep is None):
        kind = _kind_of_head(_normalise(head), line, sep is not None)
    if kind is not None:
        qualifier_words = [w for w in re.findall(r"[A-Za-z0-9]+", _normalise(head)) if w not in _QUALIFIER_NOISE]
        qualifier = head.rstrip(" :") if qualifier_words and kind != "unspecified" else None
        rest = None
        if has_rest and sep is not None:
            rest = line.content + sep.end()
            while rest < line.end and is_space(raw[rest]):
                rest += 1
            if line.marked and not ends_colon:
                return None  # "- Inclusion criteria - see protocol" reads as a criterion
        return Header(kind, qualifier, rest, intro=False)

    intro_text = quick_clean(text)
    n_words = len(intro_text.split())
    opens_list = ends_colon or bool(re.search(r"\b(?:if|following)\W*$", intro_text, re.I))
    if opens_list and not line.marked and n_words <= 60:
        # "The following patients will be excluded:", "Patients must not have:", "Subjects are eligible if:".
        t = _tables()
        switch = bool(t["switching"].search(intro_text))
        if t["intro_exc"].search(intro_text):
            return Header("exclusion", None, None, intro=True, text=intro_text, switch=switch)
        if t["intro_inc"].search(intro_text) and (
            n_words <= 12 or re.search(r"\b(?:following|criteria|if)\b", intro_text, re.I)
        ):
            return Header("inclusion", None, None, intro=True, text=intro_text, switch=switch)
    return None


def heading_text(text: str) -> str:
    """The section name shown for a sub-heading: cleaned, without trailing ':' or decoration."""
    return strip_decoration(quick_clean(text)).rstrip(" :").strip() or text.strip()
