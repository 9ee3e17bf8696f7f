"""A class condition whose complement names what it is about: "Allergy or intolerance to bupivacaine".

The list reader splits "allergy" from "intolerance to bupivacaine" and reads the first as the class "any
allergy", so a patient with hay fever is excluded by a criterion about bupivacaine. Where the criterion holds
a complement word after the class word ("to", "against"), the bare class leaf is not what the text says and
becomes unread; the words are data (``complemented_conditions`` in ``data/lexicon.yaml``).
"""

from __future__ import annotations

import re
from functools import cache

from .. import nodes as n
from .lexer import lexicon_data

_REASON = "the criterion names what the {name} is to ('{word} ...'): any {name} does not prove it"


@cache
def _complements() -> dict[str, re.Pattern[str]]:
    data: dict[str, list[str]] = lexicon_data()["complemented_conditions"]
    return {
        concept: re.compile(
            r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b", re.I
        )
        for concept, words in data.items()
    }


def complemented(rule: n.Node, text: str) -> n.Node:
    """``rule`` with each bare class leaf unread where the text goes on to say what the class is about."""
    patterns = _complements()
    if not any(isinstance(x, n.Condition) and x.concept in patterns for x in n.walk(rule)):
        return rule

    def visit(node: n.Node) -> n.Node:
        if isinstance(node, n.Condition) and node.concept in patterns:
            start = node.span[1] if node.span else 0
            found = patterns[node.concept].search(text, start)
            if found is not None:
                piece = text[node.span[0] : node.span[1]] if node.span else node.concept
                reason = _REASON.format(name=node.concept, word=found.group(0).lower())
                return n.Unparsed(text=piece, reason=reason, span=node.span)
            return node
        return n.rebuild(node, visit)

    return visit(rule)
