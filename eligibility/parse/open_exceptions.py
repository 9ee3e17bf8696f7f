"""An exception whose codes may not hold every case of it: "liver disease other than fatty liver".

A condition read with ``excluding`` drops the records of the excepted concept before deciding. That is
sound only when the excepted concept's codes hold every record of it: "other than fatty liver" read as K76.0
alone would count K70.0 "alcoholic fatty liver" as some other liver disease and exclude a patient the text
lets in (audit seed 17). Where the excepted concept is open world (its extent not reviewed as complete), a
remaining record may still be one of it, so the reading can say "no" but never "yes".
"""

from __future__ import annotations

from .. import nodes as n
from ..concepts import Vocabulary

REASON = "the exception's codes may not hold every record of it, so a record left over may still be one"


def open_exceptions(rule: n.Node, vocab: Vocabulary) -> n.Node:
    """``rule`` with each condition excepting an open-world concept joined to an unread part."""

    def open_(node: n.Node) -> tuple[str, ...]:
        if not isinstance(node, n.Condition):
            return ()
        return tuple(e for e in node.excluding if e in vocab and vocab[e].extent != "complete")

    if not any(open_(x) for x in n.walk(rule)):
        return rule  # the common case: no tree is rebuilt

    def visit(node: n.Node) -> n.Node:
        excepted = open_(node)
        if excepted:
            names = " or ".join(vocab[e].display for e in excepted)
            return n.And(items=(node, n.Unparsed(text=f"other than {names}", reason=REASON)), span=node.span)
        return n.rebuild(node, visit)

    return visit(rule)
