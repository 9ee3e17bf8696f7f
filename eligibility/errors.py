"""The whole exception tree.

Every error the package raises on purpose derives from :class:`EligibilityError`, which also
subclasses a builtin so that callers who only know ``ValueError`` still catch it. Errors carry
*where* (a path, a field, a character span) so that the CLI can point at the problem, and they
pickle (batch workers send them across processes).
"""

from __future__ import annotations


class EligibilityError(Exception):
    """Base of every error raised by this package on purpose."""


class ParseError(EligibilityError, ValueError):
    """Criterion text the grammar could not read; carries the span of the offending token."""

    def __init__(self, message: str, text: str = "", start: int | None = None, end: int | None = None):
        super().__init__(message, text, start, end)
        self.message = message
        self.text = text
        self.start = start
        self.end = end

    def __str__(self) -> str:
        if self.start is None or not self.text:
            return self.message
        line = self.text.replace("\n", " ")
        end = self.end if self.end is not None and self.end > self.start else self.start + 1
        caret = " " * self.start + "^" * max(1, end - self.start)
        return f"{self.message}\n  {line}\n  {caret}"


class InputError(EligibilityError, ValueError):
    """A malformed input file: names the path and the field so the user can fix it."""

    def __init__(self, message: str, path: str | None = None, field: str | None = None):
        super().__init__(message, path, field)
        self.message = message
        self.path = path
        self.field = field

    def __str__(self) -> str:
        where = self.path or "<input>"
        if self.field:
            where = f"{where}: field '{self.field}'"
        return f"{where}: {self.message}"


class UnitError(EligibilityError, ValueError):
    """A unit that cannot be read or converted (used internally; evaluation turns it into unknown)."""


class VocabularyError(EligibilityError, ValueError):
    """A broken vocabulary or data file shipped with (or added to) the package."""
