"""Recognise section headers ("Inclusion criteria:") and intro lines that switch the section.

A header says which kind the criteria below it are. Real registry text spells headers in many ways
("Inclusion conditions", "INCLUSION:", "Key exclusion criteria", "Criteria for inclusion", misspelt kind words,
a combined "Inclusion and exclusion criteria" above sub-headers), and sentences such as "The following patients
will be excluded:" switch the section as a header does. The words are data (``data/sections.yaml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from eligibility.io.textclean import Line, is_space, quick_clean

Kind = Literal["inclusion", "exclusion", "unspecified"]

_INC_RE = re.compile(r"(?<![-\w])(?<!non )(?:inclusion|inclusions|inclusionary)\b", re.I)
_EXC_RE = re.compile(r"\b(?:exclusion|exclusions|exclusionary|excusion|non[- ]?inclusion)\b", re.I)
_CRITERIA_WORD_RE = re.compile(r"\bcriteri(?:a|on|um|as)\b", re.I)
_HEADER_STOP_RE = re.compile(
    r"\b(?:apply|applies|may|could|must|should|defined|see|refer|omitted|met|meet|meets|listed|were|was"
    r"|not|if)\b",
    re.I,
)
_QUALIFIER_NOISE = {
    "key",
    "main",
    "major",
    "principal",
    "general",
    "basic",
    "core",
    "study",
    "trial",
    "protocol",
    "eligibility",
    "the",
    "other",
    "criteria",
    "criterion",
    "criterium",
    "criterias",
    "inclusion",
    "inclusions",
    "inclusionary",
    "exclusion",
    "exclusions",
    "exclusionary",
    "excusion",
    "non",
    "include",
    "includes",
    "included",
    "are",
    "is",
    "as",
    "follows",
    "will",
    "be",
    "following",
    "and",
    "list",
    "of",
    "summary",
    "selected",
    "important",
    "most",
    "relevant",
}
_INTRO_INC_RE = re.compile(r"\b(?:included|eligible|enrolled|enroll|include)\b.*\bif\b", re.I)
_INTRO_EXC_RE = re.compile(r"\b(?:excluded|ineligible|not eligible|exclude)\b.*\bif\b", re.I)


# --------------------------------------------------------------------------------------------------------
# Splitting: headers and headings
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Header:
    """A recognised inclusion/exclusion header and what remains on its line."""

    kind: Kind
    qualifier: str | None
    rest: int | None  # offset where inline text after the header starts, if any
    intro: bool  # an intro sentence ("... excluded if any of the following apply:")


def strip_decoration(text: str) -> str:
    """Remove Markdown heading hashes, emphasis and stray punctuation around a header."""
    text = text.strip()
    text = re.sub(r"^#+\s*", "", text)
    return text.strip("*_ \t").strip()


def match_header(raw: str, line: Line, prev_content: bool) -> _Header | None:
    """Recognise a section header on this line (see rule 1 of the module docstring)."""
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

    inc = bool(_INC_RE.search(head))
    exc = bool(_EXC_RE.search(head))
    kind: Kind | None = None
    if inc != exc and head:
        words = head.split()
        criteria_like = (
            bool(_CRITERIA_WORD_RE.search(head))
            or bool(re.fullmatch(r"(?:non[- ]?)?(?:inclusions?|exclusions?|excusion)", head, re.I))
            or bool(re.search(r"\b(?:inclusions|exclusions)\b", head, re.I))
        )
        ok = (
            criteria_like
            and len(words) <= 12
            and not head.endswith(".")
            and not _HEADER_STOP_RE.search(head)
            and (sep is not None or not line.marked)
            and not (prev_content and head[:1].islower() and sep is None)
        )
        if ok:
            kind = "inclusion" if inc else "exclusion"
    if kind is not None:
        qualifier_words = [w for w in re.findall(r"[A-Za-z0-9]+", head.lower()) if w not in _QUALIFIER_NOISE]
        qualifier = head.rstrip(" :") if qualifier_words else None
        rest = None
        if has_rest and sep is not None:
            rest = line.content + sep.end()
            while rest < line.end and is_space(raw[rest]):
                rest += 1
            if line.marked and not ends_colon:
                return None  # "- Inclusion criteria - see protocol" reads as a criterion
        return _Header(kind, qualifier, rest, intro=False)

    intro_text = quick_clean(text)
    if (
        ends_colon
        and len(intro_text.split()) <= 60
        and (_CRITERIA_WORD_RE.search(intro_text) or len(intro_text.split()) <= 6)
    ):
        # "Participants are excluded from the study if any of the following criteria apply:". Without
        # "criteria" only short lines count, so "A woman is eligible if one of the following applies:"
        # stays a lead-in that keeps its sub-items together.
        if _INTRO_EXC_RE.search(intro_text):
            return _Header("exclusion", None, None, intro=True)
        if _INTRO_INC_RE.search(intro_text):
            return _Header("inclusion", None, None, intro=True)
    return None


def heading_text(text: str) -> str:
    """The section name shown for a sub-heading: cleaned, without trailing ':' or decoration."""
    return strip_decoration(quick_clean(text)).rstrip(" :").strip() or text.strip()
