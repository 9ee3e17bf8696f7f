"""A result that only counts when recent: a pregnancy test shows the state on the day it was taken.

The evaluator reads a lab's latest result within a default look-back (90 days). For most analytes that
is a fair "current value"; for a pregnancy test it is not: a negative test 80 days ago says nothing of
today (audit seed 18). A lab concept may name its own ``lookback_days`` (data, ``concepts.yaml``); a
reading that gives no window of its own takes it, so both back ends (which read the node) apply it.
"""

from __future__ import annotations

from .. import nodes as n
from ..concepts import Vocabulary


def default_lookbacks(rule: n.Node, vocab: Vocabulary) -> n.Node:
    """``rule`` with each lab node that has no window of its own given its concept's ``lookback_days``."""

    def needs(node: n.Node) -> int | None:
        if not isinstance(node, n.Lab | n.LabResult) or node.lookback_days is not None:
            return None
        return vocab[node.concept].lookback_days if node.concept in vocab else None

    if not any(needs(x) is not None for x in n.walk(rule)):
        return rule  # the common case: no tree is rebuilt

    def visit(node: n.Node) -> n.Node:
        days = needs(node)
        if days is not None:
            return node.model_copy(update={"lookback_days": days})
        return n.rebuild(node, visit)

    return visit(rule)
