"""Conditions whose edge clinicians draw differently: is myelodysplastic syndrome a "malignancy"?

ICD-10-CM files myelodysplastic syndromes and the myeloproliferative neoplasms (D45-D47) as neoplasms of
uncertain behaviour, and carcinoma in situ (D00-D09) apart from invasive cancer, while the WHO classes the
former as malignant and many trials name "carcinoma in situ" only to except it from "malignancy". A
criterion that says "malignancy" may mean either edge. Drawing one would be a confident answer the text does
not give: with MDS in, a trial that meant invasive cancer loses its MDS patients; with it out, a patient
with MDS passes an exclusion that meant it. So a condition whose concept lists ``borderline`` concepts
(data, ``concepts.yaml``) is read both ways, as an :class:`~eligibility.nodes.Ambiguous` node of the narrow
and the wide sense; the two agree, and decide, for every patient with no borderline record.
"""

from __future__ import annotations

from .. import nodes as n
from ..concepts import Vocabulary

_MARK = "clinicians differ on whether"
REASON = _MARK + " '{name}' takes in {others}: read with and without {them}"


def widened(rule: n.Node, vocab: Vocabulary) -> n.Node:
    """``rule`` with each condition that has borderline concepts read in its narrow and its wide sense."""
    if not any(isinstance(x, (n.Condition, n.Medication)) and _edge(x, vocab) for x in n.walk(rule)):
        return rule  # the common case: no tree is rebuilt

    def visit(node: n.Node) -> n.Node:
        if is_edge(node):
            return node  # already read both ways (a piece parsed on its own, then again in the whole)
        if isinstance(node, (n.Condition, n.Medication)):
            edge = _edge(node, vocab)
            if not edge:
                return node
            wide = n.Or(items=(node, *(node.model_copy(update={"concept": other}) for other in edge)), span=node.span)
            others = " or ".join(vocab[o].display.lower() for o in edge)
            reason = REASON.format(
                name=_name(node.concept, vocab), others=others, them="them" if len(edge) > 1 else "it"
            )
            return n.Ambiguous(readings=(node, wide), reason=reason, span=node.span)
        return n.rebuild(node, visit)

    return visit(rule)


def is_edge(node: n.Node) -> bool:
    """Whether an Ambiguous node only holds a condition's narrow and wide sense: every word of the text was
    read, and only a record on the concept's edge is left unknown (so coverage counts it as read in full)."""
    return isinstance(node, n.Ambiguous) and node.reason.startswith(_MARK)


def _edge(node: n.Condition | n.Medication, vocab: Vocabulary) -> tuple[str, ...]:
    """The borderline concepts of the condition (or drug class: methotrexate under "chemotherapy") not
    already excepted by the criterion itself."""
    if node.concept not in vocab:
        return ()
    excluded = set(node.excluding)
    return tuple(o for o in vocab[node.concept].borderline if o not in excluded)


def _name(concept: str, vocab: Vocabulary) -> str:
    """A curated concept by its id ('malignancy'), a derived one by its display (its ICD-10-CM title)."""
    return concept.replace("_", " ") if concept in vocab.concepts else vocab[concept].display
