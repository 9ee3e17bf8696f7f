"""Read ClinicalTrials.gov study records and split their eligibility text into single criteria.

Two jobs live here because they share one input: the ``eligibilityCriteria`` string of a CT.gov record
(API v2 JSON, Markdown-flavoured) or a plain-text criteria document (one criterion a line under
"Inclusion criteria:" / "Exclusion criteria:" headers).

* :func:`read_ctgov_json` turns a downloaded JSON file into :class:`StudyRecord` objects. Registry data is
  messy (ages of "130 Years", missing maxima), so the reader normalises what it safely can and records each
  decision in ``notes`` instead of hiding it; structurally broken files raise :class:`InputError` naming the
  path and the JSON field, so a user can fix the file.
* :func:`split_criteria` turns criteria text into :class:`RawCriterion` objects, one per criterion, each
  cleaned for the downstream grammar but carrying the offsets of every character in the original string,
  so that an error or a match found in the cleaned text can be shown in the registry text.

Splitting rules (chosen so that a downstream parser can read each criterion on its own):

1. **Headers.** A line naming exactly one of inclusion/exclusion plus "criteria" (any case, Markdown ``#`` /
   ``**`` / bullet around it, qualifiers such as "Key", "Main", "Specific ... for X", text after a colon)
   switches the kind. Qualifiers that say *who* the list is for ("... for renal transplant patients",
   "(control group)") become the ``section``; "Key"/"Main"/"Other" do not. Text after the colon is read as
   an ordinary line. Intro sentences ending with ':' such as "Participants are excluded ... if any of the
   following criteria apply:" also switch (or confirm) the kind and are dropped. Lines naming both kinds
   ("Other protocol-defined inclusion/exclusion criteria may apply") are not headers. Text before any header
   gets kind ``'unspecified'`` and ids ``C1``...
2. **Items.** A line starting with a bullet (``*``, ``-``, ``+``, ``•``, ``·``, ``–``, ...) or a number /
   letter / roman marker (``1.``, ``1)``, ``(1)``, ``a.``, ``(b)``, ``iv)``) starts a criterion; the marker is
   not part of the text. "E. coli" is not a marker (an upper-case letter followed by a lower-case word).
3. **Continuation.** An unmarked line directly below a criterion continues it when it is indented deeper than
   the criterion's first line, starts in lower case or with punctuation, or the line above ends with a comma,
   hyphen or connective ("and", "of", "with", ...). Otherwise it is a new criterion: plain-text documents put
   one unmarked criterion on each line. An indented paragraph after a blank line inside a Markdown list item
   continues that item (CommonMark semantics), unless it is a short heading followed by a sibling item.
4. **Notes.** A line starting with "Note" (any case) and a lone "OR" / "AND" line attach to the previous
   criterion, since they qualify it and make no sense alone.
5. **Sub-headings.** An unmarked line that ends with ':' (followed by more content), starts with ``#``, or is
   short (at most 8 words, no final '.' or ';') and followed by list items is not a criterion: it becomes the
   ``section`` of the criteria after it, until the next sub-heading or header (or, for a heading written
   inside a nested list, until the list goes back out). Examples: "Part A:", "Cohort 2:", "Medical
   Conditions". A line ending with ':' just above a header ("Patient participants:") names a group and
   prefixes the section of every later header's criteria, until the next such line.
6. **Nested lists.** Sub-items (marked lines indented deeper than the item above) are separate criteria, so
   each can be parsed alone. Their ``section`` is the parent's text (after any outer section, joined with
   " > "), which keeps context such as "at least one of the following applies". A parent that only
   introduces its sub-items (ends with ':' or a connective, says "following" / "as follows", or is a fragment
   of at most four words such as "Have a BMI") is not emitted itself; a parent that is a complete criterion
   is emitted as well.
7. **Placeholders.** Items whose whole text is "None", "N/A", "Not applicable" or a dash are dropped: they say
   the list is empty, not that a patient must satisfy "None".

Cleaning: Markdown escapes (``\\>``, ``\\[``, ...) and ``**`` emphasis are removed, HTML entities decoded
(``&gt;``, ``& gt;``, ``&ge;``, ...), lines joined with one space, whitespace collapsed, trailing ';' dropped.
``split_criteria`` never raises: arbitrary text yields some (possibly empty) list of criteria.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from eligibility.errors import InputError

__all__ = [
    "AgeLimit",
    "RawCriterion",
    "StudyRecord",
    "parse_age_limit",
    "read_ctgov_json",
    "split_criteria",
]

Kind = Literal["inclusion", "exclusion", "unspecified"]
Sex = Literal["ALL", "FEMALE", "MALE"]
AgeUnit = Literal["years", "months", "weeks", "days"]


# --------------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------------


class RawCriterion(BaseModel):
    """One criterion as written, before any interpretation.

    ``text`` is cleaned for the grammar; ``span`` and ``offsets`` point back into the original string so
    that explanations and parse errors can be shown where the user wrote them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: Kind
    text: str
    span: tuple[int, int]
    section: str | None = None
    offsets: tuple[int, ...]

    @model_validator(mode="after")
    def _offsets_match_text(self) -> RawCriterion:
        """Reject inconsistent objects early: mapping a match back would otherwise fail far away."""
        if len(self.offsets) != len(self.text):
            raise ValueError("offsets must have one entry per character of text")
        if self.span[0] > self.span[1]:
            raise ValueError("span start must not exceed span end")
        return self


class AgeLimit(BaseModel):
    """An age bound as CT.gov states it; the unit is kept so that '8 Months' is not rounded to 0 years."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float
    unit: AgeUnit
    text: str

    def in_years(self) -> float:
        """The bound in years, for comparison with a patient's age (365.25-day years, 12 months a year)."""
        factor = {"years": 1.0, "months": 1.0 / 12.0, "weeks": 7.0 / 365.25, "days": 1.0 / 365.25}
        return self.value * factor[self.unit]


class StudyRecord(BaseModel):
    """The parts of a CT.gov study the pre-screening engine needs, normalised, with data-quality notes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nct_id: str
    title: str | None = None
    criteria_text: str = ""
    minimum_age: AgeLimit | None = None
    maximum_age: AgeLimit | None = None
    sex: Sex | None = None
    healthy_volunteers: bool | None = None
    notes: tuple[str, ...] = ()

    def criteria(self) -> list[RawCriterion]:
        """Split this study's criteria text (convenience for callers holding a record)."""
        return split_criteria(self.criteria_text)


# --------------------------------------------------------------------------------------------------------
# Ages
# --------------------------------------------------------------------------------------------------------

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")
_AGE_UNITS: dict[str, tuple[AgeUnit, float]] = {
    "year": ("years", 1.0),
    "years": ("years", 1.0),
    "yr": ("years", 1.0),
    "yrs": ("years", 1.0),
    "y": ("years", 1.0),
    "month": ("months", 1.0),
    "months": ("months", 1.0),
    "mo": ("months", 1.0),
    "mos": ("months", 1.0),
    "week": ("weeks", 1.0),
    "weeks": ("weeks", 1.0),
    "wk": ("weeks", 1.0),
    "wks": ("weeks", 1.0),
    "day": ("days", 1.0),
    "days": ("days", 1.0),
    "d": ("days", 1.0),
    # CT.gov also allows hours and minutes (neonatal trials); they are expressed in days.
    "hour": ("days", 1.0 / 24.0),
    "hours": ("days", 1.0 / 24.0),
    "minute": ("days", 1.0 / 1440.0),
    "minutes": ("days", 1.0 / 1440.0),
}
# Values CT.gov (or the legacy XML) uses to say "no limit"; the reader maps them to None.
_NO_AGE = {"", "n/a", "na", "none", "no limit", "not applicable"}
# Above this, a maximum age is a placeholder for "no upper limit" rather than a real bound.
_IMPLAUSIBLE_MAX_YEARS = 120.0


def parse_age_limit(text: str) -> AgeLimit:
    """Parse a CT.gov age such as '8 Years', '8 Months', '6 Weeks', '0 Years'.

    Strict on purpose: 'N/A', a bare number or an unknown unit raise :class:`InputError`, because guessing a
    unit could include a child in an adult trial. :func:`read_ctgov_json` maps the registry's "no limit"
    spellings ('N/A', absent field) to ``None`` before calling this. Hours and minutes are converted to days
    (``text`` keeps the original).
    """
    match = _AGE_RE.match(text)
    if match is None:
        raise InputError(f"cannot read age limit {text!r} (expected e.g. '18 Years' or '8 Months')")
    unit = _AGE_UNITS.get(match.group(2).lower())
    if unit is None:
        raise InputError(f"unknown unit in age limit {text!r}")
    name, factor = unit
    return AgeLimit(value=float(match.group(1)) * factor, unit=name, text=text.strip())


# --------------------------------------------------------------------------------------------------------
# JSON reader
# --------------------------------------------------------------------------------------------------------

_NCT_RE = re.compile(r"^NCT\d{8}$")


def read_ctgov_json(path: str | Path) -> list[StudyRecord]:
    """Read a CT.gov API v2 study file into :class:`StudyRecord` objects.

    Accepts a single study object, the JSON array the site's "Download -> JSON" gives, or
    ``{"studies": [...]}`` as the API returns. A malformed file raises :class:`InputError` naming the path
    and the field (e.g. ``studies[3].protocolSection.identificationModule.nctId``) so the user can fix it.
    """
    where = str(path)
    try:
        raw_text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read file: {exc}", where) from exc
    try:
        data: Any = json.loads(raw_text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", where) from exc

    items: list[tuple[str, Any]]
    if isinstance(data, list):
        items = [(f"[{i}]", study) for i, study in enumerate(data)]
    elif isinstance(data, dict) and "studies" in data:
        studies = data["studies"]
        if not isinstance(studies, list):
            raise InputError("expected a list of studies", where, "studies")
        items = [(f"studies[{i}]", study) for i, study in enumerate(studies)]
    elif isinstance(data, dict) and "protocolSection" in data:
        items = [("", data)]
    else:
        raise InputError("expected a study object, an array of studies or {'studies': [...]}", where, None)
    return [_read_study(study, where, prefix) for prefix, study in items]


def _field(prefix: str, name: str) -> str:
    """Join JSON field names the way the error messages show them ('studies[0].protocolSection')."""
    return f"{prefix}.{name}" if prefix else name


def _get_object(container: dict[str, Any], key: str, where: str, name: str, required: bool) -> dict[str, Any]:
    """Fetch a JSON object member; absent optional modules read as empty, wrong types are errors."""
    value = container.get(key)
    if value is None:
        if required:
            raise InputError("required field is missing", where, name)
        return {}
    if not isinstance(value, dict):
        raise InputError(f"expected an object, got {type(value).__name__}", where, name)
    return value


def _get_str(container: dict[str, Any], key: str, where: str, name: str) -> str | None:
    """Fetch an optional string member; a number or list where text belongs means a broken file."""
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", where, name)
    return value


def _read_study(study: Any, where: str, prefix: str) -> StudyRecord:
    """Validate one study object and normalise the eligibility fields, collecting data-quality notes."""
    if not isinstance(study, dict):
        raise InputError(f"expected a study object, got {type(study).__name__}", where, prefix or None)
    ps_name = _field(prefix, "protocolSection")
    protocol = _get_object(study, "protocolSection", where, ps_name, required=True)
    id_name = f"{ps_name}.identificationModule"
    ident = _get_object(protocol, "identificationModule", where, id_name, required=True)
    nct_id = _get_str(ident, "nctId", where, f"{id_name}.nctId")
    if nct_id is None:
        raise InputError("required field is missing", where, f"{id_name}.nctId")
    if not _NCT_RE.match(nct_id.strip()):
        raise InputError(f"not an NCT number: {nct_id!r}", where, f"{id_name}.nctId")
    title = _get_str(ident, "briefTitle", where, f"{id_name}.briefTitle")
    if title is None:
        title = _get_str(ident, "officialTitle", where, f"{id_name}.officialTitle")

    el_name = f"{ps_name}.eligibilityModule"
    elig = _get_object(protocol, "eligibilityModule", where, el_name, required=False)
    criteria = _get_str(elig, "eligibilityCriteria", where, f"{el_name}.eligibilityCriteria") or ""
    notes: list[str] = []
    if not criteria.strip():
        notes.append("no eligibility criteria text")

    minimum = _read_age(elig, "minimumAge", where, el_name, notes)
    maximum = _read_age(elig, "maximumAge", where, el_name, notes)
    if minimum is not None and minimum.value == 0:
        notes.append(f"minimum age {minimum.text}: no lower limit")
        minimum = None
    if maximum is not None and maximum.in_years() > _IMPLAUSIBLE_MAX_YEARS:
        notes.append(f"maximum age {maximum.text} is implausible; treated as no upper limit")
        maximum = None
    if maximum is not None and maximum.value == 0:
        notes.append(f"maximum age {maximum.text} excludes everyone; check the record")
    if minimum is not None and maximum is not None and minimum.in_years() > maximum.in_years():
        notes.append(f"minimum age {minimum.text} exceeds maximum age {maximum.text}; check the record")

    sex_raw = _get_str(elig, "sex", where, f"{el_name}.sex")
    sex: Sex | None = None
    if sex_raw is not None:
        upper = sex_raw.strip().upper()
        if upper == "ALL":
            sex = "ALL"
        elif upper == "FEMALE":
            sex = "FEMALE"
        elif upper == "MALE":
            sex = "MALE"
        else:
            raise InputError(f"expected ALL, FEMALE or MALE, got {sex_raw!r}", where, f"{el_name}.sex")

    healthy = elig.get("healthyVolunteers")
    healthy_volunteers: bool | None
    if healthy is None or isinstance(healthy, bool):
        healthy_volunteers = healthy
    elif isinstance(healthy, str) and healthy.strip().lower() in {"yes", "no", "true", "false"}:
        # The legacy XML and some exports spell the flag as text.
        healthy_volunteers = healthy.strip().lower() in {"yes", "true"}
    else:
        raise InputError(f"expected true or false, got {healthy!r}", where, f"{el_name}.healthyVolunteers")

    return StudyRecord(
        nct_id=nct_id.strip(),
        title=title,
        criteria_text=criteria,
        minimum_age=minimum,
        maximum_age=maximum,
        sex=sex,
        healthy_volunteers=healthy_volunteers,
        notes=tuple(notes),
    )


def _read_age(elig: dict[str, Any], key: str, where: str, el_name: str, notes: list[str]) -> AgeLimit | None:
    """Read one age bound; registry spellings of "no limit" become None with a note, garbage is an error."""
    name = f"{el_name}.{key}"
    raw = _get_str(elig, key, where, name)
    if raw is None:
        return None
    if raw.strip().lower() in _NO_AGE:
        label = "minimum" if key == "minimumAge" else "maximum"
        notes.append(f"{label} age {raw.strip() or 'empty'}: no limit")
        return None
    try:
        return parse_age_limit(raw)
    except InputError as exc:
        raise InputError(exc.message, where, name) from exc


# --------------------------------------------------------------------------------------------------------
# Splitting: line analysis
# --------------------------------------------------------------------------------------------------------

_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060\u00ad"
_ESCAPABLE = set("\\`*_{}[]()#+-.!<>^&|~=\"'$%:;/@")
_BULLET_CHARS = "•·–—‣◦▪●○■□➢►➤✓✔√◆◇⁃∙"
_MARKER_RE = re.compile(
    r"""
    (?:
        (?P<bullet>\\?[*+]|\\?-|["""
    + _BULLET_CHARS
    + r"""])
      | (?P<num>\(\d{1,3}\)|\d{1,3}\\?[.)])
      | (?P<letter>\([A-Za-z]\)|[A-Za-z]\\?[.)])
      | (?P<roman>\((?:[ivx]{1,5}|[IVX]{1,5})\)|(?:[ivx]{2,5}|[IVX]{2,5})\\?[.)])
    )
    """,
    re.VERBOSE,
)
_RULE_RE = re.compile(r"^[-*_=~\s]{3,}$")
_PLACEHOLDERS = ("none", "nil", "n/?a", "not applicable", "no exclusion criteria", "no inclusion criteria")
_PLACEHOLDER_RE = re.compile(r"^(?:" + "|".join(_PLACEHOLDERS) + r")\.?$", re.I)
_NOTE_RE = re.compile(r"^\W{0,3}notes?\b", re.I)
_CONJUNCTION_RE = re.compile(r"^\W*(?:or|and|and/or|and or)\W*$", re.I)
_CONNECTIVE_END_RE = re.compile(
    r"(?:[,(\-/&+]|\b(?:and|or|of|with|to|the|a|an|in|for|than|by|at|on|from|including|as|per|that|who"
    r"|which|if|without|within|between|least|is|are|be|not|no|any|such|e\.g\.|i\.e\.))$",
    re.I,
)
_LEADIN_RE = re.compile(
    r"(?::$|\bfollowing\b|\bas follows\b|\bbelow\b|\b(?:including|include|includes|such as|defined as"
    r"|defined by|either|one of|any of|all of|of|with|by|for|and|or)$|^(?:\S+\s+){0,3}[^\s.]+$)",
    re.I,
)
"""A parent item that only introduces its sub-items: ends with ':' or a connective, says "following", or is a
fragment of at most four words ("Have a BMI")."""
_HEADING_FOLLOWING_RE = re.compile(r"\bfollowing (?:criteria|conditions|requirements)\b", re.I)
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
# Deeply nested lists would otherwise repeat every ancestor in every descendant's section.
_MAX_SECTION = 2000
_ELIGIBILITY_ONLY_RE = re.compile(r"^(?:eligibility\s+)?criteria\s*:?$", re.I)


@dataclass
class _Line:
    """One physical line of the input with the offsets the splitter needs."""

    start: int  # offset of the first character of the line
    end: int  # offset just after the last non-space character (== start for a blank line)
    indent: int  # width of the leading whitespace (tabs count 4)
    content: int  # offset of the text after leading whitespace and any list marker
    marked: bool  # a bullet / number / letter marker was found
    text: str  # raw[content:end]
    blank: bool


@dataclass
class _Item:
    """A criterion under construction: its pieces of original text plus its place in the outline."""

    kind: Kind
    section: str | None
    indent: int
    marked: bool
    segments: list[tuple[int, int]]
    parent: _Item | None = None
    children: list[_Item] = field(default_factory=list)
    cleaned: str = ""
    offsets: tuple[int, ...] = ()


def _is_space(ch: str) -> bool:
    """Whitespace for splitting purposes, including zero-width characters that editors leave behind."""
    return ch.isspace() or ch in _INVISIBLE


def _split_lines(raw: str) -> list[tuple[int, int]]:
    """Physical lines as (start, end) offsets, accepting \\n, \\r\\n and \\r endings."""
    lines: list[tuple[int, int]] = []
    start = 0
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\n" or ch == "\r":
            lines.append((start, i))
            if ch == "\r" and i + 1 < n and raw[i + 1] == "\n":
                i += 1
            start = i + 1
        i += 1
    lines.append((start, n))
    return lines


def _match_marker(raw: str, pos: int, end: int) -> int | None:
    """If a list marker starts at ``pos``, return the offset of the text after it (and its spaces)."""
    m = _MARKER_RE.match(raw, pos, end)
    if m is None:
        return None
    after = m.end()
    nxt = raw[after] if after < end else ""
    token = m.group(0)
    if m.group("bullet") is not None:
        if token.endswith("-"):
            # '-' directly followed by a letter is a bullet in plain-text docs ("-signing of consent");
            # followed by a digit it is a minus sign.
            if nxt and not _is_space(nxt) and not nxt.isalpha():
                return None
        elif token.endswith(("*", "+")) and nxt and not _is_space(nxt):
            return None  # '*word*' emphasis, '+5'
    else:
        if nxt and not _is_space(nxt):
            return None
        if token.endswith(".") or token.endswith("\\."):
            core = token.rstrip(".\\")
            if core.isalpha() and core.isupper():
                # "E. coli", "S. aureus", "IV. infusion": an abbreviation, not a marker.
                j = after
                while j < end and _is_space(raw[j]):
                    j += 1
                if j < end and raw[j].islower():
                    return None
    while after < end and _is_space(raw[after]):
        after += 1
    return after


def _only_html_comments(body: str) -> bool:
    """True for lines like '<!-- -->' (CommonMark list separators in CT.gov text); linear, no regex."""
    i = 0
    n = len(body)
    if not body.startswith("<!--"):
        return False
    while i < n:
        if not body.startswith("<!--", i):
            return False
        close = body.find("-->", i + 4)
        if close < 0:
            return False
        i = close + 3
        while i < n and body[i].isspace():
            i += 1
    return True


def _analyse(raw: str, start: int, end: int) -> _Line:
    """Measure indentation and strip list markers (up to three, e.g. '* 1.') from one line."""
    indent = 0
    i = start
    while i < end and _is_space(raw[i]):
        indent += 4 if raw[i] == "\t" else (0 if raw[i] in _INVISIBLE else 1)
        i += 1
    stop = end
    while stop > i and _is_space(raw[stop - 1]):
        stop -= 1
    if i >= stop:
        return _Line(start, start, 0, start, False, "", True)
    body = raw[i:stop]
    if _only_html_comments(body) or _RULE_RE.match(body):
        return _Line(start, start, 0, start, False, "", True)
    content = i
    marked = False
    for _ in range(3):
        nxt = _match_marker(raw, content, stop)
        if nxt is None:
            break
        marked = True
        content = nxt
    if marked and content >= stop:
        # A marker with nothing after it ('-', '1.'): an empty item, read as a blank line.
        return _Line(start, start, 0, start, False, "", True)
    return _Line(start, stop, indent, content, marked, raw[content:stop], False)


# --------------------------------------------------------------------------------------------------------
# Splitting: cleaning with offsets
# --------------------------------------------------------------------------------------------------------

_ENTITY_RE = re.compile(
    r"&\s?(gt|lt|amp|ge|le|ne|nbsp|quot|apos|plusmn|deg|micro|times|#\d{1,6}|#x[0-9a-f]{1,6});", re.I
)
_ENTITIES = {
    "gt": ">",
    "lt": "<",
    "amp": "&",
    "ge": "≥",
    "le": "≤",
    "ne": "≠",
    "nbsp": " ",
    "quot": '"',
    "apos": "'",
    "plusmn": "±",
    "deg": "°",
    "micro": "µ",
    "times": "×",
}


def _decode_entity(name: str) -> str:
    """The character an HTML entity stands for; an out-of-range numeric entity decodes to a space."""
    low = name.lower()
    if low.startswith("#"):
        try:
            code = int(low[2:], 16) if low.startswith("#x") else int(low[1:])
            return chr(code) if 0 < code < 0x110000 else " "
        except ValueError:
            return " "
    return _ENTITIES.get(low, " ")


def _clean(raw: str, segments: list[tuple[int, int]]) -> tuple[str, tuple[int, ...], int]:
    """Clean the pieces of one criterion; return the text, per-character offsets and the span end.

    Pieces are joined with one space whose offset is the first character after the previous piece (a
    newline or space in the original), so offsets stay strictly increasing.
    """
    chars: list[tuple[str, int]] = []
    for index, (s, e) in enumerate(segments):
        if index and chars:
            chars.append((" ", segments[index - 1][1]))
        i = s
        while i < e:
            ch = raw[i]
            if ch == "\\" and i + 1 < e and raw[i + 1] in _ESCAPABLE:
                chars.append((raw[i + 1], i + 1))
                i += 2
                continue
            if ch == "*" and i + 1 < e and raw[i + 1] == "*":
                i += 2  # Markdown bold markers carry no meaning for the grammar.
                continue
            chars.append((ch, i))
            i += 1

    joined = "".join(c for c, _ in chars)
    decoded: list[tuple[str, int]] = []
    pos = 0
    for m in _ENTITY_RE.finditer(joined):
        decoded.extend(chars[pos : m.start()])
        decoded.append((_decode_entity(m.group(1)), chars[m.start()][1]))
        pos = m.end()
    decoded.extend(chars[pos:])

    out: list[str] = []
    offs: list[int] = []
    for ch, off in decoded:
        if ch in _INVISIBLE:
            continue
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
                offs.append(off)
            continue
        out.append(ch)
        offs.append(off)
    while out and out[-1] in " ;":
        out.pop()
        offs.pop()

    span_end = segments[-1][1] if segments else 0
    if segments:
        first = segments[0][0]
        while span_end > first and (_is_space(raw[span_end - 1]) or raw[span_end - 1] == ";"):
            span_end -= 1
        if offs:
            span_end = max(span_end, offs[-1] + 1)
    return "".join(out), tuple(offs), span_end


def _quick_clean(text: str) -> str:
    """Clean a short piece of text (headers, sections) without offsets."""
    cleaned, _, _ = _clean(text, [(0, len(text))])
    return cleaned


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


def _strip_decoration(text: str) -> str:
    """Remove Markdown heading hashes, emphasis and stray punctuation around a header."""
    text = text.strip()
    text = re.sub(r"^#+\s*", "", text)
    return text.strip("*_ \t").strip()


def _match_header(raw: str, line: _Line, prev_content: bool) -> _Header | None:
    """Recognise a section header on this line (see rule 1 of the module docstring)."""
    text = line.text
    if len(text) > 400:
        return None
    sep = None
    for m in re.finditer(r":|--|—|\s-\s", text):
        sep = m
        break
    head_raw = text[: sep.start()] if sep else text
    head = _strip_decoration(_quick_clean(head_raw))
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
            while rest < line.end and _is_space(raw[rest]):
                rest += 1
            if line.marked and not ends_colon:
                return None  # "- Inclusion criteria - see protocol" reads as a criterion
        return _Header(kind, qualifier, rest, intro=False)

    intro_text = _quick_clean(text)
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


def _heading_text(text: str) -> str:
    """The section name shown for a sub-heading: cleaned, without trailing ':' or decoration."""
    return _strip_decoration(_quick_clean(text)).rstrip(" :").strip() or text.strip()


# --------------------------------------------------------------------------------------------------------
# Splitting: the outline walk
# --------------------------------------------------------------------------------------------------------


def split_criteria(text: str) -> list[RawCriterion]:
    """Split an eligibilityCriteria string (CT.gov markdown) or a plain-text criteria document into criteria.

    See the module docstring for the rules. Never raises on string input; empty or header-only input
    gives ``[]``.
    """
    if not text.strip():
        return []
    return _split(text)


def _split(raw: str) -> list[RawCriterion]:
    """The splitting walk over analysed lines; builds an outline of items, then emits criteria."""
    lines = [_analyse(raw, s, e) for s, e in _split_lines(raw)]
    content_idx = [i for i, ln in enumerate(lines) if not ln.blank]
    next_content: dict[int, int | None] = {}
    for pos, i in enumerate(content_idx):
        next_content[i] = content_idx[pos + 1] if pos + 1 < len(content_idx) else None

    items: list[_Item] = []
    kind: Kind = "unspecified"
    qualifier: str | None = None
    # A group label written just above a header ("Patient participants:" then "Inclusion Criteria:"): it
    # names the population of every following list, so it prefixes the qualifier of each later header.
    group: str | None = None
    # The active sub-heading: its text, the smallest indent of the items it covers, and the list item it
    # sits under (None at top level). A shallower item ends it, so a heading written inside a nested list
    # does not leak into the rest of the section.
    subheading: str | None = None
    sub_scope = 0
    sub_owner: _Item | None = None
    stack: list[_Item] = []  # open marked items, outermost first
    last: _Item | None = None  # item the previous content line belonged to
    prev_blank = True
    prev_line: _Line | None = None

    def new_item(line: _Line, start: int, marked: bool, parent: _Item | None) -> _Item:
        section = qualifier
        if parent is not None:
            parent_text = _heading_text(raw[parent.segments[0][0] : parent.segments[-1][1]])
            section = parent_text
            if parent.section and len(parent.section) + len(parent_text) < _MAX_SECTION:
                section = f"{parent.section} > {parent_text}"
        if subheading is not None and sub_owner is parent:
            section = f"{section} > {subheading}" if section else subheading
        item = _Item(kind, section, line.indent, marked, [(start, line.end)], parent)
        if parent is not None:
            parent.children.append(item)
        items.append(item)
        return item

    def next_line(i: int) -> _Line | None:
        j = next_content.get(i)
        return lines[j] if j is not None else None

    i = -1
    for ln in lines:
        i += 1
        if ln.blank:
            prev_blank = True
            continue
        was_blank = prev_blank
        prev_blank = False
        adjacent_prev = prev_line
        prev_line = ln
        adjacent = not was_blank and adjacent_prev is not None

        header = _match_header(raw, ln, adjacent and last is not None)
        if header is not None:
            if header.intro:
                if header.kind != kind:
                    kind, qualifier, subheading = header.kind, group, None
                stack, last = [], None
                continue
            kind, subheading = header.kind, None
            qualifier = " > ".join(p for p in (group, header.qualifier) if p) or None
            stack, last = [], None
            if header.rest is not None:
                rest_line = _analyse(raw, header.rest, ln.end)
                if not rest_line.blank:
                    nxt = next_line(i)
                    if _is_subheading(raw, rest_line, nxt):
                        subheading, sub_scope, sub_owner = _heading_text(rest_line.text), 0, None
                    else:
                        last = new_item(rest_line, rest_line.content, False, None)
            continue

        if _ELIGIBILITY_ONLY_RE.match(_strip_decoration(ln.text)):
            stack, last = [], None
            continue

        if ln.marked:
            while stack and stack[-1].indent >= ln.indent:
                stack.pop()
            if subheading is not None and ln.indent < sub_scope:
                subheading = None
            nxt = next_line(i)
            cleaned = _quick_clean(ln.text)
            if (
                cleaned.endswith(":")
                and len(cleaned.split()) <= 8
                and nxt is not None
                and nxt.marked
                and nxt.indent == ln.indent
            ):
                # "- Healthy controls:" followed by sibling items: a sub-heading written as an item.
                subheading, sub_scope = _heading_text(ln.text), ln.indent
                sub_owner = stack[-1] if stack else None
                last = None
                continue
            parent = stack[-1] if stack else None
            item = new_item(ln, ln.content, True, parent)
            stack.append(item)
            last = item
            continue

        # Unmarked line.
        stripped = ln.text
        if last is not None and (_NOTE_RE.match(stripped) or _CONJUNCTION_RE.match(stripped)):
            last.segments.append((ln.content, ln.end))
            continue
        if _CONJUNCTION_RE.match(stripped):
            continue
        if last is not None and adjacent and adjacent_prev is not None:
            if _continues(ln, last, adjacent_prev):
                last.segments.append((ln.content, ln.end))
                continue
        elif last is not None and was_blank and last.marked and ln.indent > last.indent:
            nxt = next_line(i)
            short = _short_heading(ln.text)
            if short and nxt is not None and nxt.marked and nxt.indent <= last.indent:
                subheading, sub_scope, sub_owner = _heading_text(ln.text), nxt.indent, None
                stack, last = [], None
                continue
            last.segments.append((ln.content, ln.end))
            continue

        nxt = next_line(i)
        if (
            nxt is not None
            and ln.text.rstrip("*_ ").endswith(":")
            and len(ln.text.split()) <= 12
            and _match_header(raw, nxt, False) is not None
        ):
            group = _heading_text(ln.text)
            stack, last = [], None
            continue
        if _is_subheading(raw, ln, nxt):
            subheading, sub_owner = _heading_text(ln.text), None
            sub_scope = nxt.indent if nxt is not None and nxt.marked else 0
            stack, last = [], None
            continue
        stack = []
        last = new_item(ln, ln.content, False, None)

    return _emit(raw, items)


def _short_heading(text: str) -> bool:
    """A short title-like line: at most 8 words and no sentence-final punctuation."""
    t = _quick_clean(text).strip("*_ ")
    if not t or t[0].islower():
        return False
    return len(t.split()) <= 8 and not t.endswith((".", ";", ","))


def _is_subheading(raw: str, ln: _Line, nxt: _Line | None) -> bool:
    """Decide whether an unmarked line names a group of criteria rather than being one (rule 5)."""
    if nxt is None or _match_header(raw, nxt, False) is not None:
        return False  # nothing follows for it to head
    text = ln.text.strip()
    if text.startswith("#"):
        return True
    cleaned = _quick_clean(text).rstrip("*_ ")
    if not cleaned:
        return False
    if cleaned.endswith(":") and len(cleaned.split()) <= 40:
        return True
    if (nxt.marked or _quick_clean(nxt.text).rstrip("*_ ").endswith(":")) and (
        _short_heading(text) or _HEADING_FOLLOWING_RE.search(cleaned)
    ):
        return True
    bold = re.fullmatch(r"\*\*[^*]+\*\*:?", text)
    return bool(bold) and len(cleaned.split()) <= 12


def _continues(ln: _Line, last: _Item, prev: _Line) -> bool:
    """Whether an unmarked line directly below a criterion continues it (rule 3)."""
    if ln.indent > last.indent:
        return True
    first = ln.text[:1]
    if first.islower() or (first and first in ",;)]}&/+=<>≤≥%"):
        return True
    return bool(_CONNECTIVE_END_RE.search(prev.text.rstrip()))


def _emit(raw: str, items: list[_Item]) -> list[RawCriterion]:
    """Turn the outline into criteria: clean, drop lead-ins and placeholders, number per kind."""
    counters = {"inclusion": 0, "exclusion": 0, "unspecified": 0}
    prefix = {"inclusion": "I", "exclusion": "E", "unspecified": "C"}
    out: list[RawCriterion] = []
    for item in items:
        text, offsets, span_end = _clean(raw, item.segments)
        if not text:
            continue
        if item.children and _LEADIN_RE.search(text.rstrip()):
            continue
        if not item.children and (_PLACEHOLDER_RE.match(text) or not any(c.isalnum() for c in text)):
            continue
        counters[item.kind] += 1
        start = item.segments[0][0]
        out.append(
            RawCriterion(
                id=f"{prefix[item.kind]}{counters[item.kind]}",
                kind=item.kind,
                text=text,
                span=(start, span_end),
                section=item.section,
                offsets=offsets,
            )
        )
    return out
