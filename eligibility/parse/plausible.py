"""Thresholds that cannot be meant literally: "creatinine < 2.0 ng/dL", "platelets > 100 x 10^9/mL",
"creatinine clearance <= 2 x ULN".

Why a post-pass over the finished reading: every path that builds a :class:`~eligibility.nodes.Lab`
from text (the grammar, the anchored reading, list fallbacks, conditional and exception splits)
ends in ``parse_criterion``, so one check there covers them all. A threshold outside its analyte's
``plausible`` range (data in concepts.yaml) by the width of that range is a unit typo; reading it
literally would decide every patient confidently and wrongly, so the Lab becomes
:class:`~eligibility.nodes.Unparsed` with the reason and, when exactly one of the analyte's usual
units makes the number plausible, that unit.
"""

from __future__ import annotations

from .. import nodes as n
from ..concepts import Concept, Vocabulary
from ..errors import UnitError
from ..units import canonical_unit, conversion


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _in_range(value: float, unit: str, concept: Concept) -> bool | None:
    """Whether ``value unit`` lies in the concept's plausible range; None when it cannot be converted."""
    p = concept.plausible
    if p is None:
        return None
    if value == 0:
        return True  # zero is zero in every unit: never a unit typo
    try:
        converted = conversion(unit, p.unit, concept.molar_mass, concept.affine).apply(value)
    except UnitError:
        return None
    return p.low <= converted <= p.high


def implausibility(lab: n.Lab, vocab: Vocabulary) -> str | None:
    """Why this threshold cannot be meant literally, naming the likely intended unit; None if it can."""
    concept = vocab.concepts.get(lab.concept)
    if concept is not None and lab.relative is not None and lab.relative not in concept.relative_limits:
        return (
            f"{concept.display} results are not judged against an {lab.relative}, so a threshold in multiples of "
            f"the {lab.relative} cannot be meant literally; the text probably names another test"
        )
    if concept is None or concept.plausible is None or lab.unit is None or lab.relative is not None:
        return None
    values = [v for v in (lab.value, lab.value2) if v is not None]
    if all(_in_range(v, lab.unit, concept) is not False for v in values):
        return None
    p = concept.plausible
    written = " and ".join(f"{_fmt(v)} {lab.unit}" for v in values)
    fits: list[str] = []
    for usual in p.usual_units:
        if canonical_unit(usual) == canonical_unit(lab.unit):
            continue
        if all(_in_range(v, usual, concept) for v in values):
            fits.append(usual)
    if len(fits) == 1:
        hint = f"probably {fits[0]} was meant"
    elif fits:
        hint = f"the number is plausible in {' or '.join(fits)}, so the intended unit is unclear"
    else:
        hint = "no usual unit makes it plausible"
    return (
        f"the {concept.display} threshold {written} cannot be meant literally (plausible: "
        f"{_fmt(p.low)} to {_fmt(p.high)} {p.unit}); {hint}"
    )


def _rebuilt(rule: n.Node, text: str, vocab: Vocabulary) -> n.Node:
    if isinstance(rule, n.Lab):
        why = implausibility(rule, vocab)
        if why is None:
            return rule
        span = rule.span or (0, len(text))
        read = text[span[0] : span[1]].strip() or text.strip()
        if rule.unit and rule.unit not in read:
            read = f"{read} {rule.unit}"  # a Lab's span may end at its number
        return n.Unparsed(text=read, reason=why, span=rule.span)
    return n.rebuild(rule, lambda x: _rebuilt(x, text, vocab))


def implausible_as_unparsed(rule: n.Node, text: str, vocab: Vocabulary) -> n.Node:
    """The reading with every implausible Lab threshold replaced by an Unparsed that says why."""
    return _rebuilt(rule, text, vocab)


def first_implausibility(rule: n.Node, vocab: Vocabulary) -> str | None:
    """The first implausible threshold's reason, for rule files (where it is an error to fix)."""
    for node in n.walk(rule):
        if isinstance(node, n.Lab):
            why = implausibility(node, vocab)
            if why is not None:
                return why
    return None
