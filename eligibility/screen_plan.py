"""What a trial library's criteria have in common, worked out once, so that one patient is screened against
every trial without re-deriving the same answers trial after trial.

Why: the 100-study leukaemia library holds about 1,900 criteria. About four in five read as text the engine
does not compute (``Unparsed``, or a ``Measurement`` the vocabulary does not name, however combined): their
result is the same for every patient, so it is built once and shared. The others repeat themselves across
trials ("age >= 18 years", "pregnant", "HIV"): nodes that read the same, spans aside, get one key, and the
evaluator remembers a keyed node's verdict per patient (``Context.node_keys``). A node's verdict depends only
on what the node reads and on the patient's context, never on the trial or on where the words stood, so the
results are those of :func:`eligibility.api.screen` trial by trial; ``tests/test_screen_plan.py`` compares the
two criterion by criterion over Synthea patients and the development cases.

Shared results are built with the plan (a frozen :class:`~eligibility.api.CriterionResult` is never changed
after); a patient who carries coordinators' answers gets every criterion screened.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from pydantic import BaseModel

from . import nodes as n
from .api import CriterionResult, ScreeningResult, screen_criterion, screening_result
from .concepts import Vocabulary
from .evaluate import Context, OpenKind, Verdict, evaluate
from .patient import Patient
from .trial import Trial

__all__ = ["ScreenPlan", "patient_independent"]

_NEVER_COMPUTED = (n.Unparsed, n.Measurement)


def patient_independent(rule: n.Node) -> bool:
    """Whether the rule's verdict is the same for every patient: made only of text read as not computable
    and of measurements the vocabulary does not name (both always unknown), under any and/or/not."""
    if isinstance(rule, _NEVER_COMPUTED):
        return True
    parts = n.children(rule)
    return bool(parts) and all(patient_independent(p) for p in parts)


class ScreenPlan:
    """Node keys and shared results for a set of trials screened with one vocabulary (see the module
    docstring). Built once per library, then only read: safe to use from several threads."""

    def __init__(self, trials: Iterable[Trial], vocabulary: Vocabulary):
        self.vocabulary = vocabulary
        self.node_keys: dict[int, int] = {}
        self._signatures: dict[tuple[Any, ...], int] = {}
        # Every keyed node and criterion is held here, so that no other object can take its id.
        self._kept: list[object] = []
        # Verdicts of the sub-rules no patient can change, by key: every patient's context starts with them.
        self._fixed: dict[int, Verdict] = {}
        # Per trial (by id): each criterion's shared result, None where the patient decides.
        self._shared: dict[int, tuple[Trial, list[CriterionResult | None]]] = {}
        nobody = Context(Patient(id="screen-plan"), date.min, vocabulary, node_keys=self.node_keys)
        for trial in trials:
            shared: list[CriterionResult | None] = []
            for c in trial.criteria:
                self._key(c.rule)
                self._kept.append(c)
                self._fix(c.rule, nobody)
                fixed = patient_independent(c.rule)
                shared.append(screen_criterion(c, nobody, trial.id) if fixed else None)
            self._shared[id(trial)] = (trial, shared)

    def _fix(self, rule: n.Node, nobody: Context) -> bool:
        """Remember the verdicts of the rule's patient-independent parts; whether the rule is one."""
        parts = [self._fix(p, nobody) for p in n.children(rule)]
        fixed = isinstance(rule, _NEVER_COMPUTED) or (bool(parts) and all(parts))
        if fixed:
            self._fixed[self.node_keys[id(rule)]] = evaluate(rule, nobody)
        return fixed

    def _key(self, node: n.Node) -> int:
        fields = tuple((name, self._atom(value)) for name, value in node.__dict__.items() if name != "span")
        key = self._signatures.setdefault((type(node), fields), len(self._signatures))
        if id(node) not in self.node_keys:
            self.node_keys[id(node)] = key
            self._kept.append(node)
        return key

    def _atom(self, value: Any) -> Any:
        """A field value as a hashable signature: sub-rules by their key, tuples and models field by field,
        anything else with its type (so that 1 and 1.0 or True stay apart)."""
        if isinstance(value, n.Node):
            return (n.Node, self._key(value))
        if isinstance(value, tuple):
            return (tuple, tuple(self._atom(v) for v in value))
        if isinstance(value, BaseModel):
            return (type(value), tuple((k, self._atom(v)) for k, v in value.__dict__.items()))
        try:
            hash(value)
        except TypeError:
            self._kept.append(value)
            return ("unshared", id(value))  # never equal to another node's
        return (type(value), value)

    def context(
        self, patient: Patient, as_of: date, *, open_world: bool = False, open_kinds: Iterable[OpenKind] = ()
    ) -> Context:
        """The patient's context for screening against these trials (keyed nodes remembered)."""
        ctx = Context(
            patient, as_of, self.vocabulary, open_world=open_world, open_kinds=open_kinds, node_keys=self.node_keys
        )
        ctx.verdicts.update(self._fixed)
        return ctx

    def screen(self, trial: Trial, ctx: Context) -> ScreeningResult:
        """:func:`~eligibility.api.screen` of a trial, in a context from :meth:`context`: the criteria no
        patient can change keep their shared result, unless this patient carries a coordinator's answer for
        one of the trial's criterion ids (then each criterion is screened)."""
        if ctx.vocab is not self.vocabulary or ctx.node_keys is not self.node_keys:
            raise ValueError("the context was not made by this plan")
        known = self._shared.get(id(trial))
        if known is None or known[0] is not trial or ctx.patient.attestations:
            results = [screen_criterion(c, ctx, trial.id) for c in trial.criteria]
        else:
            results = [
                screen_criterion(c, ctx, trial.id) if shared is None else shared
                for c, shared in zip(trial.criteria, known[1], strict=True)
            ]
        return screening_result(trial, ctx, results)
