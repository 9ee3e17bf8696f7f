"""Split criteria text (CT.gov Markdown or a plain-text document) into single criteria.

:func:`split_criteria` turns criteria text into :class:`RawCriterion` objects, one per criterion, each
cleaned for the downstream grammar but carrying the offsets of every character in the original string,
so that an error or a match found in the cleaned text can be shown in the registry text. Headers and
lead-ins are recognised by :mod:`eligibility.io.headers`; line analysis and cleaning live in
:mod:`eligibility.io.textclean`.

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
8. **Inline numbered items.** A number inside an item's text that continues a numbered list open there ("1. Aged
   18-70 years 2. Diagnosis of asthma": 2 follows the line's own 1; "6." in a sub-item continuing the parent's
   "5.") starts a separate criterion in that list's place, and "1. ... 2. ..." inside an item opens a list of
   its own, headed by the text before it when that only introduces them ("Organ function as follows:").
   A number after a value word, a digit, a comparator ("grade 2.", "0, 1 or 2.", "0-1 2.") or inside brackets
   is not a marker. Items joined by "or" are alternatives, and an intro that holds letter or roman items of
   its own cannot be placed: such a text is left whole, and the reader leaves it unknown
   (:func:`has_inline_list`), since a reading of the whole could join separate requirements by "or".

Cleaning: Markdown escapes (``\\>``, ``\\[``, ...) and ``**`` emphasis are removed, HTML entities decoded
(``&gt;``, ``& gt;``, ``&ge;``, ...), lines joined with one space, whitespace collapsed, trailing ';' dropped.
``split_criteria`` never raises: arbitrary text yields some (possibly empty) list of criteria.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, model_validator

from eligibility.data import word_list
from eligibility.io.headers import Kind, heading_text, match_header, strip_decoration
from eligibility.io.textclean import Line, analyse, clean, is_space, quick_clean, split_lines

__all__ = ["Kind", "RawCriterion", "has_inline_list", "split_criteria"]


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
    headings: tuple[str, ...] = ()
    """The headings above this criterion, outermost first: a header's qualifier ("for donors"), intro lines
    and sub-headings ("At least one of the following:"), parent items that only introduce it."""
    heading_nested: tuple[bool, ...] = ()
    """For each heading, whether this criterion is indented below it (a nested list): only then is it sure
    where the heading's scope ends."""
    offsets: tuple[int, ...]

    @model_validator(mode="after")
    def _offsets_match_text(self) -> RawCriterion:
        """Reject inconsistent objects early: mapping a match back would otherwise fail far away."""
        if len(self.offsets) != len(self.text):
            raise ValueError("offsets must have one entry per character of text")
        if self.span[0] > self.span[1]:
            raise ValueError("span start must not exceed span end")
        return self


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
_MAX_HEADINGS = 6
# Deeply nested lists would otherwise repeat every ancestor in every descendant's section.
_MAX_SECTION = 2000
_ELIGIBILITY_ONLY_RE = re.compile(r"^(?:eligibility\s+)?criteria\s*:?$", re.I)


@dataclass
class _Item:
    """A criterion under construction: its pieces of original text plus its place in the outline."""

    kind: Kind
    section: str | None
    indent: int
    marked: bool
    segments: list[tuple[int, int]]
    headings: tuple[str, ...] = ()
    nested: tuple[bool, ...] = ()
    parent: _Item | None = None
    children: list[_Item] = field(default_factory=list)
    cleaned: str = ""
    offsets: tuple[int, ...] = ()
    marker: tuple[int, str] | None = None  # the number and style of its own list marker ("2.": (2, "."))
    pieces: list[_Piece] | None = None  # its inline-numbered items, once split (rule 8)


@dataclass
class _Frame:
    """A numbered list the inline markers of an item may continue: its last number and marker style, and
    the outline place (headings, section) an item continuing it takes."""

    number: int
    style: str
    section: str | None
    headings: tuple[str, ...]
    nested: tuple[bool, ...]


@dataclass
class _Piece:
    """One inline-numbered item of a criterion line ("... 2. Diagnosis of AML"), or the whole item."""

    section: str | None
    headings: tuple[str, ...]
    nested: tuple[bool, ...]
    segments: list[tuple[int, int]]
    intro: bool = False  # it only introduces an inline sub-list ("Organ function: 1) ... 2) ...")
    frames: tuple[_Frame, ...] = ()  # the numbered lists open after it, outermost first


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
    lines = [analyse(raw, s, e) for s, e in split_lines(raw)]
    content_idx = [i for i, ln in enumerate(lines) if not ln.blank]
    next_content: dict[int, int | None] = {}
    for pos, i in enumerate(content_idx):
        next_content[i] = content_idx[pos + 1] if pos + 1 < len(content_idx) else None

    items: list[_Item] = []
    kind: Kind = "unspecified"
    qualifier: str | None = None
    qualifiers: tuple[str, ...] = ()  # the same, one heading each
    # A group label written just above a header ("Patient participants:" then "Inclusion Criteria:"): it
    # names the population of every following list, so it prefixes the qualifier of each later header.
    group: str | None = None
    # The active sub-heading: its text, the smallest indent of the items it covers, and the list item it
    # sits under (None at top level). A shallower item ends it, so a heading written inside a nested list
    # does not leak into the rest of the section.
    subheading: str | None = None
    # Whether the sub-heading's items are indented below it, so that its scope ends where they do; a heading
    # followed by items at its own level may run on over items that are not its own.
    sub_nested = False
    sub_scope = 0
    sub_owner: _Item | None = None
    stack: list[_Item] = []  # open marked items, outermost first
    last: _Item | None = None  # item the previous content line belonged to
    prev_blank = True
    prev_line: Line | None = None

    def new_item(line: Line, start: int, marked: bool, parent: _Item | None) -> _Item:
        section = qualifier
        heads = qualifiers
        nested: tuple[bool, ...] = (True,) * len(qualifiers)
        if parent is not None:
            # The parent's last inline-numbered piece is what the sub-items sit under (rule 8).
            above = _pieces(raw, parent)[-1]
            parent_raw = raw[above.segments[0][0] : above.segments[-1][1]]
            parent_text = heading_text(parent_raw)
            section = parent_text
            heads = (*above.headings, parent_text)
            # Under a parent that only introduces its sub-items the scope is the nesting; under a parent
            # that is a criterion itself (it is emitted too), the nesting is often only layout.
            whole = quick_clean(parent_raw).rstrip()
            nested = (*above.nested, bool(_LEADIN_RE.search(whole)))
            if above.section and len(above.section) + len(parent_text) < _MAX_SECTION:
                section = f"{above.section} > {parent_text}"
        if subheading is not None and sub_owner is parent:
            section = f"{section} > {subheading}" if section else subheading
            heads = (*heads, subheading)
            nested = (*nested, sub_nested)
        item = _Item(
            kind,
            section,
            line.indent,
            marked,
            [(start, line.end)],
            heads[-_MAX_HEADINGS:],
            nested[-_MAX_HEADINGS:],
            parent,
            marker=_own_marker(raw[line.start : start]),
        )
        if parent is not None:
            parent.children.append(item)
        items.append(item)
        return item

    def next_line(i: int) -> Line | None:
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

        header = match_header(raw, ln, adjacent and last is not None)
        if header is not None:
            if header.intro:
                if header.kind != kind and (header.switch or kind == "unspecified"):
                    kind, qualifier = header.kind, group
                    qualifiers = (group,) if group else ()
                # The intro also heads the items below it: "... at least one of the following:" says how
                # they combine.
                nxt = next_line(i)
                subheading, sub_owner = heading_text(header.text), None
                sub_nested = nxt is not None and nxt.marked and nxt.indent > ln.indent
                sub_scope = nxt.indent if nxt is not None and nxt.marked else 0
                stack, last = [], None
                continue
            kind, subheading = header.kind, None
            qualifier = " > ".join(p for p in (group, header.qualifier) if p) or None
            qualifiers = tuple(p for p in (group, header.qualifier) if p)
            stack, last = [], None
            if header.rest is not None:
                rest_line = analyse(raw, header.rest, ln.end)
                if not rest_line.blank:
                    nxt = next_line(i)
                    if _is_subheading(raw, rest_line, nxt):
                        subheading, sub_scope, sub_owner = heading_text(rest_line.text), 0, None
                        sub_nested = False
                    else:
                        last = new_item(rest_line, rest_line.content, False, None)
            continue

        if _ELIGIBILITY_ONLY_RE.match(strip_decoration(ln.text)):
            stack, last = [], None
            continue

        if ln.marked:
            while stack and stack[-1].indent >= ln.indent:
                stack.pop()
            if subheading is not None and ln.indent < sub_scope:
                subheading = None
            nxt = next_line(i)
            cleaned = quick_clean(ln.text)
            if (
                cleaned.endswith(":")
                and len(cleaned.split()) <= 8
                and nxt is not None
                and nxt.indent <= ln.indent
            ):
                # "- Healthy controls:" followed by sibling items: a sub-heading written as an item.
                subheading, sub_scope = heading_text(ln.text), ln.indent
                sub_nested = False
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
                subheading, sub_scope, sub_owner = heading_text(ln.text), nxt.indent, None
                sub_nested = False
                stack, last = [], None
                continue
            last.segments.append((ln.content, ln.end))
            continue

        nxt = next_line(i)
        if (
            nxt is not None
            and ln.text.rstrip("*_ ").endswith(":")
            and len(ln.text.split()) <= 12
            and match_header(raw, nxt, False) is not None
        ):
            group = heading_text(ln.text)
            stack, last = [], None
            continue
        if _is_subheading(raw, ln, nxt):
            subheading, sub_owner = heading_text(ln.text), None
            sub_nested = nxt is not None and nxt.marked and nxt.indent > ln.indent
            sub_scope = nxt.indent if nxt is not None and nxt.marked else 0
            stack, last = [], None
            continue
        stack = []
        last = new_item(ln, ln.content, False, None)

    return _emit(raw, items)


def _short_heading(text: str) -> bool:
    """A short title-like line: at most 8 words and no sentence-final punctuation."""
    t = quick_clean(text).strip("*_ ")
    if not t or t[0].islower():
        return False
    return len(t.split()) <= 8 and not t.endswith((".", ";", ","))


def _is_subheading(raw: str, ln: Line, nxt: Line | None) -> bool:
    """Decide whether an unmarked line names a group of criteria rather than being one (rule 5)."""
    if nxt is None or match_header(raw, nxt, False) is not None:
        return False  # nothing follows for it to head
    text = ln.text.strip()
    if text.startswith("#"):
        return True
    cleaned = quick_clean(text).rstrip("*_ ")
    if not cleaned:
        return False
    if cleaned.endswith(":") and len(cleaned.split()) <= 40:
        return True
    if (nxt.marked or quick_clean(nxt.text).rstrip("*_ ").endswith(":")) and (
        _short_heading(text) or _HEADING_FOLLOWING_RE.search(cleaned)
    ):
        return True
    bold = re.fullmatch(r"\*\*[^*]+\*\*:?", text)
    return bool(bold) and len(cleaned.split()) <= 12


def _continues(ln: Line, last: _Item, prev: Line) -> bool:
    """Whether an unmarked line directly below a criterion continues it (rule 3)."""
    if ln.indent > last.indent:
        return True
    first = ln.text[:1]
    if first.islower() or (first and first in ",;)]}&/+=<>≤≥%"):
        return True
    return bool(_CONNECTIVE_END_RE.search(prev.text.rstrip()))


# --------------------------------------------------------------------------------------------------------
# Inline numbered items (rule 8)
# --------------------------------------------------------------------------------------------------------

_OWN_MARKER_RE = re.compile(r"(?:\((\d{1,3})\)|(\d{1,3})\\?([.)]))\s*$")
_INLINE_RE = re.compile(r"\((\d{1,2})\)|(\d{1,2})\\?([.)])")
_STRONG_BEFORE = ";；。"
_WEAK_BEFORE = ":：,，"
_NUMERIC_BEFORE = "<>≤≥=-–—+±~/×"
# Words after which a number is a value, not a list marker: "grade 2. Patients", "0, 1 or 2. Adequate"
# (data: ``data/inline_list_words.yaml``).
_VALUE_WORDS = word_list("inline_list_words.yaml", "value_words")


# An intro to an inline sub-list is one short sentence; text with letter or roman markers of its own ("a. Cohort
# 1 ... ii. ...") holds other items, and what the sub-list belongs to is not known.
_MAX_INTRO = 300
_INLINE_LETTER_RE = re.compile(r"(?:^|\s)(?:[a-h]|[ivx]{1,4})[.)]\s+\w")


def has_inline_list(text: str) -> bool:
    """Whether a criterion's text still holds an inline numbered list ("1. adults; 2. ECOG 0-2"): two
    markers in sequence that the splitter did not separate. Its items are separate requirements, so a reading
    of the whole text could join them by "or" or read some of them only."""
    padded = " " + text  # a marker at the very start counts too
    found = _inline_markers(padded, [(0, len(padded))])
    return any(b[2] == a[2] + 1 and b[3] == a[3] for a, b in itertools.pairwise(found))


def _own_marker(before: str) -> tuple[int, str] | None:
    """The number and style of the last numbered list marker in the text before a line's content."""
    m = _OWN_MARKER_RE.search(before)
    if m is None:
        return None
    if m.group(1) is not None:
        return int(m.group(1)), ")"  # "(2)" and "2)" are one style
    return int(m.group(2)), m.group(3)


def _inline_markers(raw: str, segments: list[tuple[int, int]]) -> list[tuple[int, int, int, str, bool]]:
    """Numbers inside an item's text that read as list markers: (start, content start, number, style, whether
    "or" comes just before it).

    A marker follows a separator or a word (not a value word, a digit or a comparator: "grade 2.",
    "0-1 2."), is followed by a space and a letter, and is not inside brackets ("(see 2. below)").
    """
    found: list[tuple[int, int, int, str, bool]] = []
    depth = 0
    for s, e in segments:
        pos = s
        for m in _INLINE_RE.finditer(raw, s, e):
            for ch in raw[pos : m.start()]:
                depth += ch == "("
                depth -= ch == ")" and depth > 0
            pos = m.start()
            p, q = m.start(), m.end()
            if p == s or q >= e or not is_space(raw[q]) or depth:
                continue
            j = q
            while j < e and is_space(raw[j]):
                j += 1
            if j >= e or not raw[j].isalpha():
                continue
            before = raw[p - 1]
            after_or = False
            if not (before in _STRONG_BEFORE or before in _WEAK_BEFORE):
                if not is_space(before):
                    continue
                k = p - 1
                while k > s and is_space(raw[k]):
                    k -= 1
                pc = raw[k]
                if pc.isdigit() or pc in _NUMERIC_BEFORE:
                    continue
                if pc.isalpha():
                    w = k
                    while w > s and raw[w - 1].isalpha():
                        w -= 1
                    word = raw[w : k + 1].lower()
                    after_or = word == "or"
                    # "2)" and "(2)" are not written as values outside brackets: "..., and (4) ..." is a marker
                    if word in _VALUE_WORDS and m.group(3) != ")" and m.group(1) is None:
                        continue
            if m.group(1) is not None:
                number, style = int(m.group(1)), ")"
            else:
                number, style = int(m.group(2)), m.group(3)
            found.append((p, j, number, style, after_or))
    return found


def _slice(segments: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of ``segments`` between two offsets of the original text."""
    out = [(max(s, start), min(e, end)) for s, e in segments if e > start and s < end]
    return [(s, e) for s, e in out if e > s]


def _pieces(raw: str, item: _Item) -> list[_Piece]:
    """An item split at its inline list markers (rule 8), computed once.

    A marker continues a numbered list that is open at that point: the item's own ("1. Aged 18-70 years
    2. Diagnosis of AML": 2 follows 1) or an enclosing item's (a sub-item's "6." continuing its parent's
    "5."), and the piece takes that list's place in the outline. "1." followed later by "2." opens a
    list inside the item; the text before it, when it only introduces them ("Organ function as follows:"),
    heads its pieces instead of being one. Any other number is not a marker.
    """
    if item.pieces is not None:
        return item.pieces
    frames: list[_Frame] = list(_pieces(raw, item.parent)[-1].frames) if item.parent is not None else []
    if item.marker is not None:
        frames.append(_Frame(item.marker[0], item.marker[1], item.section, item.headings, item.nested))
    level = len(frames) - 1  # the list the current piece belongs to (-1: the item's own place, unnumbered)
    pieces: list[_Piece] = []
    current = _Piece(item.section, item.headings, item.nested, [])
    start = item.segments[0][0] if item.segments else 0
    markers = _inline_markers(raw, item.segments)
    if any(m[4] for m in markers):
        markers = []  # "1) self-harm and/or 2) substance use": alternatives, not separate requirements
    for index, (at, content, number, style, _) in enumerate(markers):
        target = next(
            (k for k in range(len(frames) - 1, -1, -1) if frames[k].number + 1 == number and frames[k].style == style),
            None,
        )
        if target is not None:
            frame = frames[target]
            frames = [*frames[:target], _Frame(number, style, frame.section, frame.headings, frame.nested)]
            place: tuple[str | None, tuple[str, ...], tuple[bool, ...]] = (frame.section, frame.headings, frame.nested)
            level = target
        elif number == 1 and any(m[2] == 2 and m[3] == style for m in markers[index + 1 :]):
            before = quick_clean(raw[start:at]).rstrip()
            if len(before) > _MAX_INTRO or _INLINE_LETTER_RE.search(before):
                continue  # "a. Cohort 1 ... ii. ... any of the following: 1. ..." is not one intro: left whole
            if before and _LEADIN_RE.search(before):
                title = heading_text(raw[start:at])
                section = f"{current.section} > {title}" if current.section else title
                place = (section, (*current.headings, title)[-_MAX_HEADINGS:], (*current.nested, True)[-_MAX_HEADINGS:])
                current.intro = True
            else:
                place = (current.section, current.headings, current.nested)
            frames = [*frames[: level + 1], _Frame(1, style, *place)]
            level = len(frames) - 1
        else:
            continue
        current.segments = _slice(item.segments, start, at)
        current.frames = tuple(frames)
        pieces.append(current)
        current = _Piece(place[0], place[1], place[2], [])
        start = content
    current.segments = _slice(item.segments, start, item.segments[-1][1]) if item.segments else []
    current.frames = tuple(frames)
    pieces.append(current)
    kept = [p for p in pieces if p.segments]
    item.pieces = kept or [_Piece(item.section, item.headings, item.nested, item.segments, frames=tuple(frames))]
    return item.pieces


def _emit(raw: str, items: list[_Item]) -> list[RawCriterion]:
    """Turn the outline into criteria: clean, drop lead-ins and placeholders, number per kind."""
    counters = {"inclusion": 0, "exclusion": 0, "unspecified": 0}
    prefix = {"inclusion": "I", "exclusion": "E", "unspecified": "C"}
    out: list[RawCriterion] = []
    for item in items:
        pieces = _pieces(raw, item)
        for index, piece in enumerate(pieces):
            if piece.intro:
                continue
            children = item.children if index == len(pieces) - 1 else []
            text, offsets, span_end = clean(raw, piece.segments)
            if not text:
                continue
            if children and _LEADIN_RE.search(text.rstrip()):
                continue
            if not children and (_PLACEHOLDER_RE.match(text) or not any(c.isalnum() for c in text)):
                continue
            counters[item.kind] += 1
            start = piece.segments[0][0]
            out.append(
                RawCriterion(
                    id=f"{prefix[item.kind]}{counters[item.kind]}",
                    kind=item.kind,
                    text=text,
                    span=(start, span_end),
                    section=piece.section,
                    headings=piece.headings,
                    heading_nested=piece.nested,
                    offsets=offsets,
                )
            )
    return out
