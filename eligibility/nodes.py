"""The rule AST: frozen pydantic models, one discriminated union, no logic.

Every node carries ``span`` (start, end offsets into the criterion text it was read from) so that
explanations can point at the words a rule came from. Spans are serialised (JSON round trip is
exact); tests that compare readings use :func:`strip_spans`.

Semantics live in ``evaluate.py`` (Python) and later in ``compile/`` (SQL); a node here only says
*what* was read. Every node can evaluate to unknown, which maps to SQL NULL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Op = Literal["<", "<=", ">", ">=", "=", "between"]
TimeUnit = Literal["hours", "days", "weeks", "months", "years"]

_DAYS_PER: dict[str, float] = {"hours": 1 / 24, "days": 1, "weeks": 7, "months": 30.4375, "years": 365.25}


class Node(BaseModel):
    """Base of every AST node."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    span: tuple[int, int] | None = Field(default=None, repr=False)


class Duration(BaseModel):
    """An amount of time such as "2 weeks"; ``days`` converts with the mean month and year."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    amount: float
    unit: TimeUnit

    @property
    def days(self) -> float:
        return self.amount * _DAYS_PER[self.unit]


class Bound(BaseModel):
    """A comparison on a duration: "> 12 months", "at least 2 weeks"."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    op: Op
    duration: Duration
    duration2: Duration | None = None


class Age(Node):
    """Age in completed years (or months) at the screening date."""

    kind: Literal["age"] = "age"
    op: Op
    value: float
    value2: float | None = None
    unit: Literal["years", "months"] = "years"


class Sex(Node):
    """The patient's administrative sex is one of ``sexes``."""

    kind: Literal["sex"] = "sex"
    sexes: tuple[Literal["male", "female"], ...]


class Lab(Node):
    """A numeric lab, vital or score compared with a threshold.

    ``relative`` = "ULN"/"LLN" means ``value`` is a multiple of that limit and ``unit`` is None.
    ``lookback_days`` overrides the evaluator's default look-back window.
    """

    kind: Literal["lab"] = "lab"
    concept: str
    op: Op
    value: float
    value2: float | None = None
    unit: str | None = None
    relative: Literal["ULN", "LLN"] | None = None
    lookback_days: int | None = None


class Measurement(Node):
    """A numeric comparison on something the vocabulary does not name: "QTcF <= 470 ms", "IOP > 25 mmHg".

    Kept with its raw name so that the reading still says what the text asks for and a reviewer can
    map it to a concept; it always evaluates to unknown, asking for that value.
    """

    kind: Literal["measurement"] = "measurement"
    name: str
    op: Op
    value: float
    value2: float | None = None
    unit: str | None = None
    relative: Literal["ULN", "LLN"] | None = None


class LabResult(Node):
    """A qualitative result: "HBsAg positive", "HCV-RNA positive"."""

    kind: Literal["lab_result"] = "lab_result"
    concept: str
    result: Literal["positive", "negative"]
    lookback_days: int | None = None


class Condition(Node):
    """A diagnosis or state (pregnancy, lactation).

    ``timing`` "current" means active at the screening date; "history" means ever recorded.
    ``within`` means active at some time in the window before the screening date (for acute
    concepts: onset in the window). ``duration`` bounds the time since onset ("> 12 months").
    """

    kind: Literal["condition"] = "condition"
    concept: str
    timing: Literal["current", "history"] = "current"
    within: Duration | None = None
    duration: Bound | None = None
    excluding: tuple[str, ...] = ()


class Medication(Node):
    """Exposure to a drug or drug class, optionally in a window and for a number of consecutive days."""

    kind: Literal["medication"] = "medication"
    concept: str
    timing: Literal["current", "history"] = "current"
    within: Duration | None = None
    consecutive_days: Bound | None = None
    excluding: tuple[str, ...] = ()


class StableDose(Node):
    """No start or change of a drug during the last ``duration`` (it may also not be taken at all)."""

    kind: Literal["stable_dose"] = "stable_dose"
    concept: str
    duration: Duration


class Procedure(Node):
    """A procedure ever performed, or performed within a window."""

    kind: Literal["procedure"] = "procedure"
    concept: str
    within: Duration | None = None
    excluding: tuple[str, ...] = ()


class Allergy(Node):
    """An allergy, hypersensitivity or intolerance to a drug or drug class (``concept``, a medication concept).

    Read from allergy records (FHIR AllergyIntolerance, mirrored as conditions whose concept says their
    kind, with the substance's code and name; see :mod:`eligibility.allergies`), never from drug exposure.
    ``reaction`` "allergy" ("allergy", "hypersensitivity", "allergic reaction"): only a record of an allergy
    proves it, one whose type is intolerance or not given leaves it unknown; "any" ("intolerance", "allergy
    or intolerance"): any recorded adverse reaction to the drug, allergic or not. ``timing`` "current": the
    allergy is active at the screening date (a resolved or inactive one is not); "history": ever recorded.
    """

    kind: Literal["allergy"] = "allergy"
    concept: str
    reaction: Literal["allergy", "any"] = "allergy"
    timing: Literal["current", "history"] = "current"


class And(Node):
    kind: Literal["and"] = "and"
    items: tuple[Rule, ...]


class Or(Node):
    kind: Literal["or"] = "or"
    items: tuple[Rule, ...]


class Not(Node):
    kind: Literal["not"] = "not"
    item: Rule


class Implies(Node):
    """ "If A, then B": true when A is false or B is true (Kleene: ``not A or B``)."""

    kind: Literal["implies"] = "implies"
    condition: Rule
    then: Rule


class Ambiguous(Node):
    """Text with several plausible readings: true if all are true, false if all are false, else unknown.

    Used where English does not settle the meaning ("pregnancy and lactation" in an exclusion may
    mean either; "A or B within one year" may put the window on A too). A decision only follows
    when every reading agrees, so the ambiguity can never produce a confident wrong answer.
    """

    kind: Literal["ambiguous"] = "ambiguous"
    readings: tuple[Rule, ...]
    reason: str


class Unparsed(Node):
    """Text that was not fully understood; always unknown unless a coordinator answers it."""

    kind: Literal["unparsed"] = "unparsed"
    text: str
    reason: str


Rule = Annotated[
    Age
    | Sex
    | Lab
    | Measurement
    | LabResult
    | Condition
    | Medication
    | StableDose
    | Procedure
    | Allergy
    | And
    | Or
    | Not
    | Implies
    | Ambiguous
    | Unparsed,
    Field(discriminator="kind"),
]

NODE_TYPES: tuple[type[Node], ...] = (
    Age,
    Sex,
    Lab,
    Measurement,
    LabResult,
    Condition,
    Medication,
    StableDose,
    Procedure,
    Allergy,
    And,
    Or,
    Not,
    Implies,
    Ambiguous,
    Unparsed,
)

for _cls in (And, Or, Not, Implies, Ambiguous):
    _cls.model_rebuild()


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "span"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def strip_spans(rule: Node) -> Node:
    """The same rule with every span removed, for comparing readings regardless of position."""
    return type(rule).model_validate(_strip(rule.model_dump(mode="json")))


def children(rule: Node) -> tuple[Node, ...]:
    """Direct sub-rules of a node (empty for leaves)."""
    if isinstance(rule, And | Or):
        return rule.items
    if isinstance(rule, Not):
        return (rule.item,)
    if isinstance(rule, Implies):
        return (rule.condition, rule.then)
    if isinstance(rule, Ambiguous):
        return rule.readings
    return ()


def walk(rule: Node) -> list[Node]:
    """Every node of a rule, parents before children."""
    out = [rule]
    for child in children(rule):
        out.extend(walk(child))
    return out


def named_concepts(rule: Node) -> set[str]:
    """Every concept id the rule names (``concept`` and ``excluding`` of any node): what a vocabulary must
    hold for a cached reading of the rule to be used."""
    out: set[str] = set()
    for node in walk(rule):
        fields = node.__dict__  # a pydantic model's field values
        if isinstance(fields.get("concept"), str):
            out.add(fields["concept"])
        out.update(fields.get("excluding", ()))
    return out


def rebuild(rule: Node, child: Callable[[Node], Node]) -> Node:
    """The same rule with each direct sub-rule replaced by ``child(sub)``; the very same object when no
    sub-rule changed, so a post-pass over a reading costs nothing where it finds nothing."""
    if isinstance(rule, And | Or):
        items = tuple(child(x) for x in rule.items)
        return rule if items == rule.items else rule.model_copy(update={"items": items})
    if isinstance(rule, Not):
        item = child(rule.item)
        return rule if item is rule.item else rule.model_copy(update={"item": item})
    if isinstance(rule, Implies):
        cond, then = child(rule.condition), child(rule.then)
        if cond is rule.condition and then is rule.then:
            return rule
        return rule.model_copy(update={"condition": cond, "then": then})
    if isinstance(rule, Ambiguous):
        readings = tuple(child(x) for x in rule.readings)
        return rule if readings == rule.readings else rule.model_copy(update={"readings": readings})
    return rule
