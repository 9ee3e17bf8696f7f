"""An exception whose codes may not hold every case of it: "liver disease other than fatty liver".

A condition read with ``excluding`` drops the records of the excepted concept before deciding. That is
sound only when the excepted concept's codes hold every record of it: "other than fatty liver" read as K76.0
alone would count K70.0 "alcoholic fatty liver" as some other liver disease and exclude a patient the text
lets in (audit seed 17). Where the excepted concept is open world (its extent not reviewed as complete), it is
widened by every ICD-10-CM code elsewhere whose title names it (K70.0 with K76.0); where that cannot be done (a
curated concept, a name the terminology does not index) a remaining record may still be one of it, so the
reading can say "no" but never "yes".
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
        if not excepted:
            return n.rebuild(node, visit)
        assert isinstance(node, n.Condition)
        widened = {e: _widened(e, vocab) for e in excepted}
        node = node.model_copy(update={"excluding": tuple(widened.get(e) or e for e in node.excluding)})
        still = [e for e, w in widened.items() if w is None]
        if not still:
            return node
        names = " or ".join(vocab[e].display for e in still)
        return n.And(items=(node, n.Unparsed(text=f"other than {names}", reason=REASON)), span=node.span)

    return visit(rule)


def _widened(concept: str, vocab: Vocabulary) -> str | None:
    """A condition read through ICD-10-CM, with every code elsewhere that names it (K76.0 fatty liver with K70.0
    alcoholic fatty liver), as a derived concept: what an exception of it must leave out. None for a curated
    concept or where the terminology cannot tell."""
    if not concept.startswith("icd10cm:"):
        return None
    from ..terminology import default_terminology, naming_elsewhere

    roots = tuple(concept.removeprefix("icd10cm:").split("+"))
    extra = naming_elsewhere(default_terminology(), roots, vocab[concept].codes.get("icd10cm", ()))
    if extra is None:
        return None
    if not extra:
        return concept
    display = vocab[concept].display + ", or " + ", ".join(f"ICD-10-CM {c}" for c in extra)
    return vocab.derive_condition((*roots, *extra), display)
