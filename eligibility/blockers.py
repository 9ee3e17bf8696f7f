"""Why a criterion is not read in full: the one thing that blocks it, in a class that can be counted.

An unread part carries its reason (``Unparsed.reason``); reasons are many and specific, so a table of
patterns (``data/blockers.yaml``) sorts them into a few classes. For the largest class, words the
vocabulary does not know, the blocker quotes the first content words of the unread text: counted over
a corpus, they are the concepts the vocabulary most needs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from . import nodes as n

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’-]*")
_QUOTED_WORDS = 3


@dataclass(frozen=True)
class Blocker:
    """A criterion's first unread part: its class, what to show a person, and the reason as the engine gave it."""

    cls: str
    detail: str
    reason: str

    def __str__(self) -> str:
        return f"{self.cls}: {self.detail}"


@cache
def _table() -> tuple[tuple[tuple[str, re.Pattern[str]], ...], frozenset[str]]:
    data: dict[str, Any] = yaml.safe_load(files("eligibility.data").joinpath("blockers.yaml").read_text("utf-8"))
    patterns = tuple((str(cls), re.compile(str(rx), re.I)) for cls, rx in data["patterns"])
    return patterns, frozenset(str(w).lower() for w in data["stopwords"])


def _content_words(text: str) -> str:
    stop = _table()[1]
    words = [w for w in _WORD.findall(text) if w.lower().strip("'’") not in stop]
    return " ".join(words[:_QUOTED_WORDS]).lower()


def classify(part: n.Unparsed | n.Measurement) -> Blocker:
    """The blocker class of one unread part (a Measurement: a quantity outside the vocabulary)."""
    if isinstance(part, n.Measurement):
        return Blocker("vocabulary", f"measure '{part.name.lower()}'", "a quantity the vocabulary does not name")
    cls = next((name for name, rx in _table()[0] if rx.search(part.reason)), "structure")
    if cls == "vocabulary":
        words = _content_words(part.text)
        return Blocker(cls, f"'{words}'" if words else "no content words", part.reason)
    detail = re.sub(r"\s+", " ", part.reason)
    if cls != "qualifier":  # a group's label or a heading's words are this trial's own: count the kind
        detail = re.sub(r"'[^']{16,}'", "'…'", detail)
    return Blocker(cls, detail if len(detail) <= 90 else detail[:89] + "…", part.reason)


def blocker(rule: n.Node) -> Blocker | None:
    """The first unread part of a reading, classified; None when the reading is complete."""
    for node in n.walk(rule):
        if isinstance(node, n.Unparsed | n.Measurement):
            return classify(node)
    return None


def top_blockers(rules: Iterable[n.Node], limit: int = 10) -> tuple[Counter[str], list[tuple[str, int]]]:
    """Blocker classes over many readings, and the most frequent blockers themselves."""
    classes: Counter[str] = Counter()
    details: Counter[str] = Counter()
    for rule in rules:
        b = blocker(rule)
        if b is not None:
            classes[b.cls] += 1
            details[str(b)] += 1
    return classes, details.most_common(limit)
