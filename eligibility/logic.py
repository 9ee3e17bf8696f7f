"""Three-valued (Kleene) truth values.

Unknown is a *value*, never an exception: ``false AND unknown = false``, ``true OR unknown = true``,
``NOT unknown = unknown``. These are exactly SQL's NULL semantics, which keeps every rule compilable.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Tri(Enum):
    """A Kleene truth value."""

    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, value: bool | None) -> Tri:
        """``True``/``False``/``None`` -> Tri (None is SQL NULL, i.e. unknown)."""
        if value is None:
            return cls.UNKNOWN
        return cls.TRUE if value else cls.FALSE

    def to_bool(self) -> bool | None:
        return None if self is Tri.UNKNOWN else self is Tri.TRUE

    def __and__(self, other: Tri) -> Tri:
        if self is Tri.FALSE or other is Tri.FALSE:
            return Tri.FALSE
        if self is Tri.TRUE and other is Tri.TRUE:
            return Tri.TRUE
        return Tri.UNKNOWN

    def __or__(self, other: Tri) -> Tri:
        if self is Tri.TRUE or other is Tri.TRUE:
            return Tri.TRUE
        if self is Tri.FALSE and other is Tri.FALSE:
            return Tri.FALSE
        return Tri.UNKNOWN

    def __invert__(self) -> Tri:
        if self is Tri.UNKNOWN:
            return Tri.UNKNOWN
        return Tri.FALSE if self is Tri.TRUE else Tri.TRUE


def all_of(values: Iterable[Tri]) -> Tri:
    """Kleene AND over any number of values (TRUE for none)."""
    result = Tri.TRUE
    for value in values:
        result = result & value
    return result


def any_of(values: Iterable[Tri]) -> Tri:
    """Kleene OR over any number of values (FALSE for none)."""
    result = Tri.FALSE
    for value in values:
        result = result | value
    return result
