"""An item that is only a group's label ("Female participants:") heads the items below it.

The splitter keeps a line such as "Female participants:" both as the heading of the items under it and as an
item of its own. Read alone, its words say "female", and as an inclusion that would fail every man, although
the line only says which participants the next items are for. A reading of nothing but sex, from a text that
ends in a colon, is therefore unknown, with the reason; the items below it are read under it as a group
(:mod:`eligibility.parse.leadins`).
"""

from __future__ import annotations

from .. import nodes as n

__all__ = ["group_label"]

_REASON = "a heading: the label of the group the items below it are for, not a requirement of its own"


def group_label(rule: n.Node, text: str) -> n.Node:
    """``rule`` unless ``text`` is a bare group label ending in ':' read as sex only (module docstring)."""
    if not text.rstrip().endswith(":"):
        return rule
    leaves = [x for x in n.walk(rule) if not n.children(x)]
    if leaves and all(isinstance(x, n.Sex) for x in leaves):
        return n.Unparsed(text=text.strip(), reason=_REASON, span=(0, len(text)))
    return rule
