"""Line analysis and cleaning of criteria text, with offsets back into the original string.

Shared by the header recogniser (:mod:`eligibility.io.headers`) and the splitter
(:mod:`eligibility.io.criteria_text`): both need to know where a line's text starts after its list marker, and
the text as the grammar will see it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
@dataclass
class Line:
    """One physical line of the input with the offsets the splitter needs."""

    start: int  # offset of the first character of the line
    end: int  # offset just after the last non-space character (== start for a blank line)
    indent: int  # width of the leading whitespace (tabs count 4)
    content: int  # offset of the text after leading whitespace and any list marker
    marked: bool  # a bullet / number / letter marker was found
    text: str  # raw[content:end]
    blank: bool


def is_space(ch: str) -> bool:
    """Whitespace for splitting purposes, including zero-width characters that editors leave behind."""
    return ch.isspace() or ch in _INVISIBLE


def split_lines(raw: str) -> list[tuple[int, int]]:
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
            if nxt and not is_space(nxt) and not nxt.isalpha():
                return None
        elif token.endswith(("*", "+")) and nxt and not is_space(nxt):
            return None  # '*word*' emphasis, '+5'
    else:
        if nxt and not is_space(nxt):
            return None
        if token.endswith(".") or token.endswith("\\."):
            core = token.rstrip(".\\")
            if core.isalpha() and core.isupper():
                # "E. coli", "S. aureus", "IV. infusion": an abbreviation, not a marker.
                j = after
                while j < end and is_space(raw[j]):
                    j += 1
                if j < end and raw[j].islower():
                    return None
    while after < end and is_space(raw[after]):
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


def analyse(raw: str, start: int, end: int) -> Line:
    """Measure indentation and strip list markers (up to three, e.g. '* 1.') from one line."""
    indent = 0
    i = start
    while i < end and is_space(raw[i]):
        indent += 4 if raw[i] == "\t" else (0 if raw[i] in _INVISIBLE else 1)
        i += 1
    stop = end
    while stop > i and is_space(raw[stop - 1]):
        stop -= 1
    if i >= stop:
        return Line(start, start, 0, start, False, "", True)
    body = raw[i:stop]
    if _only_html_comments(body) or _RULE_RE.match(body):
        return Line(start, start, 0, start, False, "", True)
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
        return Line(start, start, 0, start, False, "", True)
    return Line(start, stop, indent, content, marked, raw[content:stop], False)


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


def clean(raw: str, segments: list[tuple[int, int]]) -> tuple[str, tuple[int, ...], int]:
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
        while span_end > first and (is_space(raw[span_end - 1]) or raw[span_end - 1] == ";"):
            span_end -= 1
        if offs:
            span_end = max(span_end, offs[-1] + 1)
    return "".join(out), tuple(offs), span_end


# What makes clean() do more than mend the spacing: an escape, a bold marker, an entity, an invisible character.
_NOT_ONLY_SPACING = re.compile("[" + re.escape("\\*&" + _INVISIBLE) + "]")


def quick_clean(text: str) -> str:
    """Clean a short piece of text (headers, sections) without offsets.

    Called for every line the header recogniser looks at; most lines hold nothing but text and spacing,
    and then the cleaned text is the words joined by one space, without a trailing ';' (what clean()
    returns for them, without building offsets character by character).
    """
    if _NOT_ONLY_SPACING.search(text) is None:
        return " ".join(text.split()).rstrip(" ;")
    cleaned, _, _ = clean(text, [(0, len(text))])
    return cleaned
