"""Rule AST + patient -> three-valued verdicts with the evidence they rest on.

One ``visit_<node>`` per node type. Unknown is a value (never an exception): a missing lab, a
stale lab, an unconvertible unit, an unparsed clause each give ``Tri.UNKNOWN`` with a reason and a
``missing`` entry naming the data that would decide it. Semantics (kept expressible in SQL):

- age: completed years (or months) at ``as_of``; bounds inclusive;
- labs: the most recent value within the look-back window (default 90 days); never closed-world;
- conditions, medications, procedures: closed-world by default (no record = absent), open-world on
  request (then anything not shown true is unknown);
- ULN/LLN: the observation's own reference range, else the vocabulary's range for sex and age;
- history windows ("within N", for conditions, medications, procedures) are the N days ending on
  ``as_of`` (the first day is ``as_of - N + 1``), so ``not (X within N)`` reads "at least N days
  since X"; lab look-backs include the day ``as_of - N``;
- a record is matched by its concept id, its code (``Vocabulary.concepts_for_record``), or, when the
  code cannot be read, by its text; a text match is marked as such in the evidence and explanation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cached_property, lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from . import nodes as n
from .concepts import ALLERGY_UNCLASSIFIED, KNOWN_SYSTEMS, LOCAL_ROUTE, Concept, Vocabulary
from .derived import DERIVABLE, Inputs, derive, derived_margin, lookback_start, newest_in_unit
from .errors import UnitError
from .logic import Tri, all_of, any_of
from .patient import ConditionRecord, MedicationRecord, Observation, Patient, ProcedureRecord
from .units import Conversion, canonical_unit, conversion

DEFAULT_LOOKBACK_DAYS = 90

SYSTEM_ALIASES = {
    "http://loinc.org": "loinc",
    "http://snomed.info/sct": "snomed",
    "http://hl7.org/fhir/sid/icd-10-cm": "icd10cm",
    "http://hl7.org/fhir/sid/icd-10": "icd10cm",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
    "http://www.whocc.no/atc": "atc",
    "icd-10-cm": "icd10cm",
    "icd10": "icd10cm",
    "sct": "snomed",
}
__all__ = ["KNOWN_SYSTEMS", "SYSTEM_ALIASES", "Context", "Evidence", "Verdict", "evaluate", "normalise_system"]
RecordKind = Literal["observation", "condition", "medication", "procedure"]
#: Record kinds whose absence can be declared unknown on their own (:meth:`Context.is_open`).
OpenKind = Literal["condition", "medication", "procedure", "allergy"]


class Evidence(BaseModel):
    """One patient datum a verdict used."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["observation", "condition", "medication", "procedure", "demographic", "attestation"]
    concept: str | None = None
    description: str
    value: float | str | None = None
    unit: str | None = None
    converted_value: float | None = None
    converted_unit: str | None = None
    date: dt.date | None = None
    ref_low: float | None = None
    ref_high: float | None = None
    range_source: str | None = None
    source: str | None = None
    matched_by: Literal["concept", "code", "text"] | None = None


@dataclass(frozen=True)
class Verdict:
    """The truth of one rule node for one patient, and why."""

    truth: Tri
    reason: str
    evidence: tuple[Evidence, ...] = ()
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    children: tuple[Verdict, ...] = field(default=(), repr=False)


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


def _compare(value: float, op: str, threshold: float, threshold2: float | None = None) -> bool:
    # Round away conversion noise (29.999999999 must equal 30) before comparing.
    v = round(value, 9)
    t = round(threshold, 9)
    if op == "<":
        return v < t
    if op == "<=":
        return v <= t
    if op == ">":
        return v > t
    if op == ">=":
        return v >= t
    if op == "=":
        return v == t
    if op == "between":
        return t <= v <= round(threshold2 if threshold2 is not None else threshold, 9)
    raise ValueError(op)


def completed_years(birth: date, on: date) -> int:
    """Whole years lived at ``on`` (a birthday counts on the day itself; 29 Feb -> 1 Mar)."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def completed_months(birth: date, on: date) -> int:
    months = (on.year - birth.year) * 12 + on.month - birth.month
    if on.day < birth.day:
        months -= 1
    return months


@lru_cache(maxsize=1024)
def normalise_system(system: str | None) -> str | None:
    """A FHIR system URI or alias -> the vocabulary's system name (unknown systems: lower-cased).

    Remembered (a bounded cache; system URIs, not chart content): a hook call asks ~5,000 times, for
    the few systems a chart uses, while mapping its records and screening them."""
    if system is None:
        return None
    return SYSTEM_ALIASES.get(system.strip(), system.strip().lower())


def _first_day(as_of: date, within: n.Duration) -> date:
    """First day of the history window "within N": the N days ending on ``as_of``.

    So a dose exactly N days ago is outside it and ``not (X within N)`` means "at least N days since".
    """
    return as_of - timedelta(days=max(round(within.days), 1) - 1)


def window_start(r: n.Node, as_of: date) -> date:
    """First day of the span a closed-world criterion's absence is about (it ends on ``as_of``).

    "Within N" is its window; a stable dose looks back over its duration; anything else ("current",
    "history of") is about the patient as observed on ``as_of``. The batch compiler uses the same days.
    """
    within = getattr(r, "within", None)
    if isinstance(within, n.Duration):
        return _first_day(as_of, within)
    if isinstance(r, n.StableDose):
        return as_of - timedelta(days=round(r.duration.days))
    return as_of


def observed(patient: Patient, since: date, as_of: date) -> bool:
    """Whether one observation period covers since..as_of; a patient without stated periods counts as observed."""
    periods = patient.observation_periods
    return periods is None or any(p.start <= since and p.end >= as_of for p in periods)


class Context:
    """Everything the evaluator needs for one patient; record -> concept matching is done once.

    ``node_keys``: rule nodes (by ``id``) that read the same, spans aside, under one key (built by
    :mod:`eligibility.screen_plan` over a trial library, which keeps the nodes alive so their ids stay
    theirs). A keyed node's verdict is computed once per context and reused: one patient against 100
    trials asks "age >= 18" or "pregnant" dozens of times, and a node's verdict depends only on what the
    node reads and on this context."""

    def __init__(
        self,
        patient: Patient,
        as_of: date,
        vocabulary: Vocabulary,
        open_world: bool = False,
        default_lookback_days: int = DEFAULT_LOOKBACK_DAYS,
        open_kinds: Iterable[OpenKind] = (),
        node_keys: Mapping[int, int] | None = None,
    ):
        self.patient = patient
        self.as_of = as_of
        self.vocab = vocabulary
        self.open_world = open_world
        self.open_kinds: frozenset[OpenKind] = frozenset(open_kinds)
        self.default_lookback_days = default_lookback_days
        self.node_keys = node_keys
        self.verdicts: dict[int, Verdict] = {}

    def is_open(self, kind: RecordKind, concept: str) -> bool:
        """Whether "no record" of ``concept`` in records of ``kind`` is unknown rather than absent: the whole
        screening is open world, or that kind of record could not be obtained (``open_kinds``). Allergy
        records are mirrored as conditions, so missing allergies open the conditions under ``allergy``."""
        if self.open_world or kind in self.open_kinds:
            return True
        if kind != "condition" or "allergy" not in self.open_kinds or "allergy" not in self.vocab:
            return False
        return concept == "allergy" or (
            concept in self.vocab and bool(self.vocab.leaf_set(concept) & self.vocab.leaf_set("allergy"))
        )

    def concepts_of(self, record: Any) -> frozenset[str]:
        """Every concept the record names: its concept id, its code, or (unreadable code) its text."""
        return self._resolved(record)[0]

    def by_text(self, record: Any, concept: str) -> bool:
        """Whether the record matches ``concept`` only through its free text."""
        found, text_only = self._resolved(record)
        wanted = self.vocab.leaf_set(concept) if concept in self.vocab else frozenset({concept})
        return bool(text_only & wanted) and not (found - text_only) & wanted

    def _resolved(self, record: Any) -> tuple[frozenset[str], frozenset[str]]:
        cache: dict[int, tuple[frozenset[str], frozenset[str]]] = self.__dict__.setdefault("_concept_cache", {})
        key = id(record)
        hit = cache.get(key)
        if hit is None:
            coded, text_only = self.vocab.concepts_for_record(normalise_system(record.system), record.code, record.text)
            found = coded | text_only | ({record.concept} if record.concept else set())
            system = normalise_system(record.system)
            mirror = record.concept is not None  # an AllergyIntolerance mirror (io/fhir_values.allergy_concept)
            if (
                isinstance(record, ConditionRecord)
                and not mirror
                and self.vocab.allergy_kind_unread(system, record.text, found)
            ):
                found, text_only = found | {ALLERGY_UNCLASSIFIED}, text_only | {ALLERGY_UNCLASSIFIED}
            hit = cache[key] = (frozenset(found), text_only - coded - {record.concept})
        return hit

    def is_unread(self, record: Any) -> bool:
        """A record coded in a system the engine does not read (or with no system) that matched no concept,
        by code or by text: it could be anything of its kind. The SQL compiler asks the same of each
        registry descriptor (batch.compile), so both back ends see the same records as unread."""
        return (
            bool(record.code) and normalise_system(record.system) not in KNOWN_SYSTEMS and not self.concepts_of(record)
        )

    def is_blind_to_icd10cm(self, record: Any) -> bool:
        """A condition record a terminology-derived (ICD-10-CM) concept cannot see through: unread, or SNOMED CT
        that matched no concept and whose display names no ICD-10-CM title or inclusion term."""
        if self.is_unread(record):
            return True
        if normalise_system(record.system) != "snomed" or self.concepts_of(record):
            return False
        from .terminology import default_terminology

        return not default_terminology().codes_for_text(record.text or "")

    @cached_property
    def blind_conditions(self) -> tuple[Any, ...]:
        """The condition records :meth:`is_blind_to_icd10cm`, found once per patient (every closed-world
        ICD-10-CM leaf asks)."""
        return tuple(rec for rec in self.patient.conditions if self.is_blind_to_icd10cm(rec))

    @cached_property
    def unread(self) -> dict[str, tuple[Any, ...]]:
        """Per record kind, the records whose code is in a system the engine does not know (or has no
        system) and that matched no concept: a criterion on that kind cannot be sure of absence."""
        out: dict[str, tuple[Any, ...]] = {}
        kinds: tuple[tuple[str, Sequence[Any]], ...] = (
            ("observation", self.patient.observations),
            ("condition", self.patient.conditions),
            ("medication", self.patient.medications),
            ("procedure", self.patient.procedures),
        )
        for kind, records in kinds:
            found = tuple(rec for rec in records if self.is_unread(rec))
            if found:
                out[kind] = found
        return out

    @cached_property
    def unknown_systems(self) -> tuple[str, ...]:
        seen: list[str] = []
        records: Iterable[Any] = (
            *self.patient.observations,
            *self.patient.conditions,
            *self.patient.medications,
            *self.patient.procedures,
        )
        for record in records:
            system = normalise_system(record.system)
            if system and system not in KNOWN_SYSTEMS and record.system not in seen:
                seen.append(record.system)
        return tuple(seen)

    def matching(self, records: Sequence[Any], concept: str, excluding: tuple[str, ...] = ()) -> list[Any]:
        """The records that name ``concept`` (and none of ``excluding``), remembered per context: screening
        one patient against a library of trials asks for the same concepts again and again."""
        memo: dict[tuple[int, str, tuple[str, ...]], tuple[Sequence[Any], list[Any]]]
        memo = self.__dict__.setdefault("_matching_memo", {})
        key = (id(records), concept, excluding)
        hit = memo.get(key)
        if hit is not None and hit[0] is records:  # the memo holds `records`, so its id is not reused
            return list(hit[1])
        found = self._matching(records, concept, excluding)
        memo[key] = (records, found)
        return list(found)

    def _matching(self, records: Sequence[Any], concept: str, excluding: tuple[str, ...]) -> list[Any]:
        wanted = self.vocab.leaf_set(concept) if concept in self.vocab else frozenset({concept})
        unwanted: frozenset[str] = frozenset()
        for ex in excluding:
            unwanted |= self.vocab.leaf_set(ex) if ex in self.vocab else frozenset({ex})
        index = self._index(records)
        named = [c for c in wanted if c in index] if len(wanted) < len(index) else [c for c in index if c in wanted]
        at: set[int] = set()
        for c in named:
            at.update(index[c])
        # In the records' order, as a scan of the records would give them.
        found = [records[i] for i in sorted(at) if not self._resolved(records[i])[0] & unwanted]
        route = self.vocab[concept].route if concept in self.vocab else "any"
        if route != "any":  # given locally or not, as the record's dosage route says (Concept.route)
            found = [r for r in found if (LOCAL_ROUTE in self._resolved(r)[0]) is (route == "local")]
        return found

    def _index(self, records: Sequence[Any]) -> dict[str, tuple[int, ...]]:
        """Positions of the records naming each concept (what :meth:`concepts_of` gives), built once per
        record list: a look-up then visits the records of the concept, not every record of the patient."""
        memo: dict[int, tuple[Sequence[Any], dict[str, tuple[int, ...]]]]
        memo = self.__dict__.setdefault("_index_memo", {})
        hit = memo.get(id(records))
        if hit is not None and hit[0] is records:
            return hit[1]
        positions: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            for c in self._resolved(record)[0]:
                positions.setdefault(c, []).append(i)
        index = {c: tuple(at) for c, at in positions.items()}
        memo[id(records)] = (records, index)
        return index

    @cached_property
    def unmatched_snomed(self) -> tuple[Any, ...]:
        """SNOMED CT condition records that matched no concept by code or by text (see :func:`_unmatched_note`)."""
        return tuple(
            rec
            for rec in self.patient.conditions
            if normalise_system(rec.system) == "snomed" and not self.concepts_of(rec)
        )

    @cached_property
    def age_years(self) -> int | None:
        birth = self.patient.birth_date
        return completed_years(birth, self.as_of) if birth and birth <= self.as_of else None

    def name(self, concept: str) -> str:
        return self.vocab[concept].display if concept in self.vocab else concept


def evaluate(rule: n.Node, ctx: Context) -> Verdict:
    """The verdict of one rule node (recursively) for the context's patient; remembered per context for the
    nodes the context has keys for (``Context.node_keys``)."""
    visitor: Callable[[Any, Context], Verdict] = _VISITORS[type(rule)]
    key = ctx.node_keys.get(id(rule)) if ctx.node_keys is not None else None
    if key is None:
        return visitor(rule, ctx)
    hit = ctx.verdicts.get(key)
    if hit is None:
        hit = ctx.verdicts[key] = visitor(rule, ctx)
    return hit


def _first_few(described: list[str], sep: str, shown: int = 3) -> str:
    """The first records of a list for a note, and how many more there are."""
    more = f" and {len(described) - shown} more" if len(described) > shown else ""
    return sep.join(described[:shown]) + more


def _unread_caveat(ctx: Context, kind: RecordKind, name: str, verdict: Verdict) -> Verdict:
    """A verdict that is not 'yes' may be wrong if some record of this kind could not be read: say so."""
    if not ctx.unread.get(kind) or verdict.truth is Tri.TRUE:
        return verdict
    note = _unread_note(ctx, kind, name)
    reason = verdict.reason if note in verdict.reason else f"{verdict.reason}; {note}"  # (said by _closed)
    return replace(verdict, reason=reason, notes=(*verdict.notes, note))


def _unread_listed(ctx: Context, kind: str) -> str:
    return _first_few([f"{rec.system or 'no system'} {rec.code}" for rec in ctx.unread.get(kind, ())], ", ")


def _unread_note(ctx: Context, kind: str, name: str) -> str:
    return (
        f"{len(ctx.unread.get(kind, ()))} {kind} record(s) coded in a system the engine does not read "
        f"({_unread_listed(ctx, kind)}) were not matched; one of them could be {name}"
    )


# ---- demographics ------------------------------------------------------------------------------


def visit_age(r: n.Age, ctx: Context) -> Verdict:
    birth = ctx.patient.birth_date
    if birth is None:
        return Verdict(Tri.UNKNOWN, "age unknown: no birth date", missing=("birth date",))
    if birth > ctx.as_of:
        why = f"age unknown: the birth date {birth} is after {ctx.as_of} (a data error)"
        return Verdict(Tri.UNKNOWN, why, missing=("birth date",))
    age = completed_years(birth, ctx.as_of) if r.unit == "years" else completed_months(birth, ctx.as_of)
    ok = _compare(age, r.op, r.value, r.value2)
    bound = f"{_fmt(r.value)}-{_fmt(r.value2 or 0)}" if r.op == "between" else f"{r.op} {_fmt(r.value)}"
    ev = Evidence(kind="demographic", description=f"born {birth.isoformat()}", value=age, unit=r.unit, date=birth)
    word = "within" if ok else "outside"
    return Verdict(
        Tri.of(ok), f"age {age} {r.unit} on {ctx.as_of.isoformat()} is {word} {bound} {r.unit}", evidence=(ev,)
    )


def visit_sex(r: n.Sex, ctx: Context) -> Verdict:
    sex = ctx.patient.sex
    wanted = " or ".join(r.sexes)
    if sex is None or sex in ("unknown", "other"):
        return Verdict(
            Tri.UNKNOWN,
            f"sex is {sex or 'not recorded'}; the criterion asks for {wanted}",
            missing=("administrative sex",),
        )
    ev = Evidence(kind="demographic", description="administrative sex", value=sex)
    return Verdict(Tri.of(sex in r.sexes), f"sex {sex}; the criterion asks for {wanted}", evidence=(ev,))


# ---- observations ------------------------------------------------------------------------------


def _window_obs(
    ctx: Context, concept: str, lookback: int, pick: Callable[[Observation], bool]
) -> tuple[list[Observation], list[Observation]]:
    """(observations in the window, newest first; matching observations outside it)."""
    start = ctx.as_of - timedelta(days=lookback)
    inside, outside = [], []
    for obs in ctx.matching(ctx.patient.observations, concept):
        if not pick(obs):
            continue
        if obs.effective is not None and start <= obs.effective <= ctx.as_of:
            inside.append(obs)
        else:
            outside.append(obs)
    inside.sort(key=lambda o: o.effective or date.min, reverse=True)
    return inside, outside


def _no_value(ctx: Context, name: str, lookback: int, outside: list[Observation]) -> Verdict:
    start = ctx.as_of - timedelta(days=lookback)
    reason = f"no {name} between {start.isoformat()} and {ctx.as_of.isoformat()} ({lookback}-day look-back)"
    dated = [o.effective for o in outside if o.effective]
    if dated:
        reason += f"; latest outside the window: {max(d for d in dated).isoformat()}"
    undated = sum(1 for o in outside if o.effective is None)
    if undated:
        reason += f"; {undated} result(s) without a date ignored"
    return Verdict(Tri.UNKNOWN, reason, missing=(f"{name} measured on or after {start.isoformat()}",))


def _matched_by(rec: Any, concept: str, ctx: Context | None) -> Literal["concept", "code", "text"]:
    if ctx is not None and ctx.by_text(rec, concept):
        return "text"
    return "concept" if rec.concept else "code"


def _obs_evidence(obs: Observation, concept: str, ctx: Context | None = None, **extra: Any) -> Evidence:
    text_match = ctx is not None and ctx.by_text(obs, concept)
    return Evidence(
        kind="observation",
        concept=concept,
        description=(obs.text or concept) + (" (matched by text)" if text_match else ""),
        matched_by=_matched_by(obs, concept, ctx),
        value=obs.value if obs.value is not None else obs.result,
        unit=obs.unit,
        date=obs.effective,
        ref_low=obs.ref_low,
        ref_high=obs.ref_high,
        source=obs.source,
        **extra,
    )


def visit_lab(r: n.Lab, ctx: Context) -> Verdict:
    name = ctx.name(r.concept)
    lookback = r.lookback_days if r.lookback_days is not None else ctx.default_lookback_days
    inside, outside = _window_obs(ctx, r.concept, lookback, lambda o: o.value is not None)
    if not inside:
        derived = _derived_lab(r, ctx, lookback, name)
        if derived is not None:
            return _unread_caveat(ctx, "observation", name, derived)
        return _unread_caveat(ctx, "observation", name, _no_value(ctx, name, lookback, outside))
    obs = inside[0]
    assert obs.value is not None
    if r.relative is not None:
        verdict = _relative(r, ctx, obs, obs.value, name)
    else:
        verdict = _absolute(r, ctx, obs, obs.value, name)
    if ctx.by_text(obs, r.concept):
        verdict = replace(verdict, reason=f"{verdict.reason} (result matched by text: '{obs.text}')")
    return verdict


def _derived_lab(r: n.Lab, ctx: Context, lookback: int, name: str) -> Verdict | None:
    """BMI, eGFR or creatinine clearance computed from its inputs (``derived.py``) when the record has no
    value of its own; the reason names the formula and the inputs. An estimate within its margin of the
    threshold (another equation could fall on the other side) is unknown."""
    if r.concept not in DERIVABLE or r.relative is not None:
        return None
    start = lookback_start(ctx.as_of, lookback)
    birth = ctx.patient.birth_date

    def newest(concept: str, unit: str, adult_any_time: bool) -> tuple[Observation, float] | None:
        records = ctx.matching(ctx.patient.observations, concept)
        found = newest_in_unit(ctx.vocab, records, concept, unit, start, ctx.as_of)
        if found is None and adult_any_time and birth is not None:
            adult = date(birth.year + 18, birth.month, 1) + timedelta(days=birth.day - 1)  # 29 Feb safe
            if adult <= ctx.as_of:
                found = newest_in_unit(ctx.vocab, records, concept, unit, adult, ctx.as_of)
        return found

    made = derive(r.concept, Inputs(ctx.as_of, lookback, ctx.age_years, ctx.patient.sex, newest))
    if made is None:
        return None
    obs = made.observation
    assert obs.value is not None
    verdict = _absolute(r, ctx, obs, obs.value, name)
    inputs = tuple(_obs_evidence(o, o.concept or "", ctx) for o in made.inputs)
    reason = f"{verdict.reason} ({obs.text})"
    margin = derived_margin(r.concept)
    converted = verdict.evidence[0].converted_value if verdict.evidence else None
    if margin and verdict.truth is not Tri.UNKNOWN and converted is not None:
        low, high = converted * (1 - margin), converted * (1 + margin)
        ok = verdict.truth is Tri.TRUE
        if _compare(low, r.op, r.value, r.value2) != ok or _compare(high, r.op, r.value, r.value2) != ok:
            return Verdict(
                Tri.UNKNOWN,
                f"{reason}; a derived estimate within {round(margin * 100)} % of the threshold does not decide "
                "(another equation or the lab's own value could fall on the other side)",
                evidence=(*verdict.evidence, *inputs),
                missing=(f"{name} as reported by the laboratory",),
                notes=(f"{name} derived from its inputs",),
            )
    return replace(
        verdict, reason=reason, evidence=(*verdict.evidence, *inputs), notes=(*verdict.notes, f"{name} derived")
    )


def _absolute(r: n.Lab, ctx: Context, obs: Observation, value: float, name: str) -> Verdict:
    concept = ctx.vocab.concepts.get(r.concept)
    target = r.unit or (concept.unit if concept else None)
    molar = concept.molar_mass if concept else None
    if target is None and obs.unit is None:
        converted = value
    elif target is None or obs.unit is None:
        missing_side = "the criterion's threshold" if target is None else "the result"
        return Verdict(
            Tri.UNKNOWN,
            f"{name} {_fmt(value)} {obs.unit or ''}: {missing_side} has no unit, so the two cannot be compared",
            evidence=(_obs_evidence(obs, r.concept, ctx),),
            missing=(f"{name} with a unit",),
            notes=(f"unit missing for {name}",),
        )
    else:
        try:
            how = conversion(obs.unit, target, molar, concept.affine if concept else ())
        except UnitError as exc:
            reason = f"{name} {_fmt(value)} {obs.unit}: unit cannot be compared with {target} ({exc})"
            return _unconvertible(r.concept, name, obs, target, reason, f" on {obs.effective}", ctx)
        converted = how.apply(value)
    ok = _compare(converted, r.op, r.value, r.value2)
    unit_txt = f" {target}" if target else ""
    threshold = f"between {_fmt(r.value)} and {_fmt(r.value2 or 0)}" if r.op == "between" else f"{r.op} {_fmt(r.value)}"
    shown = f"{_fmt(value)} {obs.unit or ''}".strip()
    if obs.unit and target and canonical_unit(obs.unit) != canonical_unit(target):
        shown = _shown_conversion(value, obs.unit, converted, target, how)
    ev = _obs_evidence(obs, r.concept, ctx, converted_value=converted, converted_unit=target)
    verb = "meets" if ok else "does not meet"
    return Verdict(Tri.of(ok), f"{name} {shown} on {obs.effective} {verb} {threshold}{unit_txt}", evidence=(ev,))


def _shown_conversion(value: float, unit: str, converted: float, target: str, how: Conversion) -> str:
    """ "70 mmol/mol (= 8.6 %)", or for an affine line "48 mmol/mol (IFCC) = 6.5 % (NGSP, ... ; affine)"."""
    if how.via is None:
        return f"{_fmt(value)} {unit} (= {_fmt(converted)} {target})"
    line = f"{_fmt(how.scale)} x {unit} {'+' if how.offset >= 0 else '-'} {_fmt(abs(how.offset))}"
    rounded = f", rounded to {how.decimals} decimal(s)" if how.decimals is not None else ""
    side_from = f" ({how.from_label})" if how.from_label else ""
    side_to = f"{how.to_label}, " if how.to_label else ""
    return (
        f"{_fmt(value)} {unit}{side_from} = {_fmt(converted)} {target} "
        f"({side_to}{how.via}: affine, {target} = {line}{rounded})"
    )


def _unconvertible(
    concept: str, name: str, obs: Observation, target: str, reason: str, when: str, ctx: Context
) -> Verdict:
    """A result whose unit cannot be brought to ``target``: unknown, with a data-quality note."""
    return Verdict(
        Tri.UNKNOWN,
        reason,
        evidence=(_obs_evidence(obs, concept, ctx),),
        missing=(f"{name} in a unit convertible to {target}",),
        notes=(f"data quality: unit '{obs.unit}' of {name}{when} not usable",),
    )


def _band(sex: str | None, age_min: float, age_max: float | None) -> str:
    """ "females aged 10 to under 15", "any sex aged 18 and over": the band a default range applies to."""
    who = {"male": "males", "female": "females"}.get(sex or "", "any sex")
    if age_max is None:
        return f"{who} aged {age_min:g} and over" if age_min > 0 else who
    return f"{who} aged {age_min:g} to under {age_max:g}"


def _relative(r: n.Lab, ctx: Context, obs: Observation, value: float, name: str) -> Verdict:
    limit_attr = "ref_high" if r.relative == "ULN" else "ref_low"
    own = getattr(obs, limit_attr)
    concept = ctx.vocab.concepts.get(r.concept)
    if own is not None and own > 0:
        limit, limit_unit, source = own, obs.unit, "the result's own reference range"
        value_in_limit_unit = value
    else:
        rng = ctx.vocab.reference_range(r.concept, ctx.patient.sex, ctx.age_years) if concept else None
        bound = getattr(rng, "high" if r.relative == "ULN" else "low", None) if rng else None
        if rng is None or bound is None or bound <= 0:
            return Verdict(
                Tri.UNKNOWN,
                f"{name} {_fmt(value)} {obs.unit or ''}: no {r.relative} (the result has no reference range and "
                f"the vocabulary has none for sex {ctx.patient.sex or 'not recorded'}, age "
                f"{'not known' if ctx.age_years is None else ctx.age_years})",
                evidence=(_obs_evidence(obs, r.concept, ctx),),
                missing=(f"reference range of the {name} result", "patient sex and birth date"),
            )
        limit, limit_unit = bound, rng.unit
        source = (
            f"the vocabulary's default range for {_band(rng.sex, rng.age_min, rng.age_max)}, as the result carries "
            f"no reference range of its own (source: {rng.source})"
        )
        try:
            how = (
                conversion(obs.unit, limit_unit, concept.molar_mass, concept.affine)
                if obs.unit is not None and concept is not None
                else Conversion(1.0)
            )
        except UnitError as exc:
            reason = f"{name} {_fmt(value)} {obs.unit}: cannot compare with the default range in {limit_unit} ({exc})"
            return _unconvertible(r.concept, name, obs, limit_unit, reason, "", ctx)
        value_in_limit_unit = how.apply(value)
    ratio = value_in_limit_unit / limit
    ok = _compare(ratio, r.op, r.value, r.value2)
    ev = _obs_evidence(
        obs, r.concept, ctx, converted_value=round(ratio, 4), converted_unit=f"x {r.relative}", range_source=source
    )
    if own is None:
        ev = ev.model_copy(update={limit_attr: limit})
    verb = "meets" if ok else "does not meet"
    return Verdict(
        Tri.of(ok),
        f"{name} {_fmt(value)} {obs.unit or ''} on {obs.effective} is {ratio:.2f} x "
        f"{r.relative} ({r.relative} {_fmt(limit)} {limit_unit or ''} from {source}); {verb} "
        f"{r.op} {_fmt(r.value)} x {r.relative}",
        evidence=(ev,),
    )


def visit_labresult(r: n.LabResult, ctx: Context) -> Verdict:
    name = ctx.name(r.concept)
    lookback = r.lookback_days if r.lookback_days is not None else ctx.default_lookback_days
    inside, outside = _window_obs(ctx, r.concept, lookback, lambda o: o.result is not None)
    if not inside:
        return _unread_caveat(ctx, "observation", name, _no_value(ctx, f"{name} result", lookback, outside))
    obs = inside[0]
    ok = obs.result == r.result
    how = f" (matched by text: '{obs.text}')" if ctx.by_text(obs, r.concept) else ""
    return Verdict(
        Tri.of(ok), f"{name} {obs.result} on {obs.effective}{how}", evidence=(_obs_evidence(obs, r.concept, ctx),)
    )


# ---- coded history ------------------------------------------------------------------------------


def _closed(
    ctx: Context,
    found: Tri,
    reason: str,
    name: str,
    evidence: tuple[Evidence, ...] = (),
    *,
    kind: RecordKind,
    concept: str,
    since: date | None = None,
) -> Verdict:
    """Closed world: not shown = false. Open world: not shown = unknown.

    Closed world is earned per concept: only a concept whose code set is reviewed as covering its
    meaning (``Vocabulary.complete``) turns "no (matching) record" into "absent"; for the others a
    record the code set does not cover may exist, so absence is unknown and the reason says why.
    And per patient: when the source states when it observed the patient (OMOP observation periods),
    absence counts only if one period covers the criterion's window ``since``..as_of.
    """
    if found is Tri.FALSE and ctx.is_open(kind, concept):
        return Verdict(
            Tri.UNKNOWN,
            reason + " (open world: absence of a record does not prove absence)",
            evidence=evidence,
            missing=(f"confirmation about {name}",),
        )
    if found is Tri.FALSE and kind == "condition" and concept in ctx.vocab.derived and ctx.vocab.complete(concept):
        blind = _unreadable_conditions(ctx)
        if blind:
            listed = _first_few([f"{rec.system or 'no system'} {rec.code} '{rec.text or ''}'" for rec in blind], "; ")
            return Verdict(
                Tri.UNKNOWN,
                f"{reason}, but {len(blind)} condition record(s) could not be read as ICD-10-CM by code or by text "
                f"({listed}); one of them could be {name}, so absence is not proof",
                evidence=evidence,
                missing=(f"whether {listed} is {name}",),
            )
        reason = f"{reason} (absence counts: {ctx.vocab[concept].extent_source})"
    elif found is Tri.FALSE and ctx.vocab.complete(concept) and ctx.unread.get(kind):
        # Closed world covers what the source returned and the engine could read: a record coded in a
        # system it does not read may be this very concept, so its absence is not shown (principle 2).
        note = _unread_note(ctx, kind, name)
        return Verdict(
            Tri.UNKNOWN,
            f"{reason}, but {note}, so absence is not proof",
            evidence=evidence,
            missing=(f"whether {_unread_listed(ctx, kind)} is {name}",),
        )
    if found is Tri.FALSE and not ctx.vocab.complete(concept):
        return Verdict(
            Tri.UNKNOWN,
            f"{reason}, but the code set for {name} is not reviewed as complete, so absence is not proof",
            evidence=evidence,
            missing=(f"confirmation about {name} (a coded record, or a statement that the patient has none)",),
        )
    start = ctx.as_of if since is None else since
    if found is Tri.FALSE and not observed(ctx.patient, start, ctx.as_of):
        span = f"on {ctx.as_of}" if start == ctx.as_of else f"from {start} to {ctx.as_of}"
        return Verdict(
            Tri.UNKNOWN,
            f"{reason}, but no observation period of the patient covers {span}, so absence of a record is not proof",
            evidence=evidence,
            missing=(f"records about {name} {span} (the source was not observing the patient then)",),
        )
    if found is Tri.FALSE:
        return Verdict(Tri.FALSE, reason, evidence=evidence)
    missing = (f"dates and clinical status of the {name} records",) if found is Tri.UNKNOWN else ()
    return Verdict(found, reason, evidence=evidence, missing=missing)


_ACTIVE = {"active", "recurrence", "relapse"}


def _implausibly_long(rec: ConditionRecord, ctx: Context, concept: Concept | None) -> bool:
    """An 'active' record, never ended, of a condition that cannot last that long (or of unknown onset)."""
    if concept is None or concept.max_duration_days is None:
        return False
    if rec.abatement is not None or rec.status not in _ACTIVE:
        return False
    return rec.onset is None or (ctx.as_of - rec.onset).days > concept.max_duration_days


def _condition_truth(
    r: n.Condition, rec: ConditionRecord, ctx: Context, concept: Concept | None, ended: date | None
) -> Tri:
    """Whether one record satisfies the criterion; ``ended`` is a later record that ended it (delivery)."""
    as_of = ctx.as_of
    acute = bool(concept and concept.acute)
    if rec.onset is not None and rec.onset > as_of:
        return Tri.FALSE
    if ctx.vocab.is_history_code(normalise_system(rec.system), rec.code):
        lifelong = concept is not None and concept.lifelong
        if lifelong and (r.timing == "current" or r.within is not None) and r.duration is None:
            return Tri.UNKNOWN  # an old MI shows a coronary disease once; a lifelong one may be there still
        return _history_truth(r, rec, ctx)
    if ctx.vocab.is_remission_code(normalise_system(rec.system), rec.code):
        return _remission_truth(r)
    abatement = rec.abatement
    if ended is not None and (abatement is None or ended < abatement):
        abatement = ended
    active_now: Tri
    if abatement is not None:
        active_now = Tri.of(abatement > as_of)
    elif _implausibly_long(rec, ctx, concept) or rec.status == "unknown":
        active_now = Tri.UNKNOWN
    else:
        active_now = Tri.of(rec.status in _ACTIVE)
    checks: list[Tri] = []
    if r.within is not None:
        first = _first_day(as_of, r.within)
        if acute:
            checks.append(Tri.UNKNOWN if rec.onset is None else Tri.of(rec.onset >= first))
        elif abatement is not None:
            checks.append(Tri.of(abatement >= first))
        elif active_now is not Tri.FALSE:
            checks.append(active_now)
        else:
            checks.append(Tri.UNKNOWN if rec.onset is None or rec.onset < first else Tri.TRUE)
    elif r.timing == "current":
        checks.append(active_now)
    if r.duration is not None:
        checks.append(active_now)
        if rec.onset is None:
            checks.append(Tri.UNKNOWN)
        else:
            days = (as_of - rec.onset).days
            checks.append(Tri.of(_compare(days, r.duration.op, r.duration.duration.days)))
    return all_of(checks)


def _history_truth(r: n.Condition, rec: ConditionRecord, ctx: Context) -> Tri:
    """A personal-history record (Z85, 'History of myocardial infarction'): X was present at some time
    before the record's date and is not now. It satisfies "history of X"; it never shows a current or
    lasting X; for "X within N" its date bounds the diagnosis from above only, so a record older than
    the window shows X ended before it (false) and a recent one cannot tell (unknown)."""
    if r.within is not None:
        if rec.onset is None:
            return Tri.UNKNOWN
        return Tri.FALSE if rec.onset < _first_day(ctx.as_of, r.within) else Tri.UNKNOWN
    if r.timing == "current" or r.duration is not None:
        return Tri.FALSE
    return Tri.TRUE


def _remission_truth(r: n.Condition) -> Tri:
    """A disorder coded 'in remission' (F32.5, F31.7): it was present, so "history of X" holds; whether it
    is current, lasting or within a window the code does not say (remission of an episode is not the end
    of a recurrent disorder)."""
    if r.timing == "history" and r.within is None and r.duration is None:
        return Tri.TRUE
    return Tri.UNKNOWN


def _describe(rec: Any, ctx: Context, concept: str | None = None) -> str:
    label = str(rec.text or rec.concept or f"{rec.system} {rec.code}")
    if concept is not None and ctx.by_text(rec, concept):
        label += " (matched by text)"
    return label


def _record_evidence(
    kind: Literal["condition", "medication", "procedure"], concept: str, rec: Any, ctx: Context, **extra: Any
) -> Evidence:
    return Evidence(
        kind=kind,
        concept=concept,
        description=_describe(rec, ctx, concept),
        source=rec.source,
        matched_by=_matched_by(rec, concept, ctx),
        **extra,
    )


def _end_events(ctx: Context, concept: Concept) -> list[tuple[date, str]]:
    """Dated records that end a condition: its ``ended_by`` concepts (conditions or procedures) and,
    when it reads tests for its current state, negative results of those tests. Newest last."""
    events: list[tuple[date, str]] = []
    for other in concept.ended_by:
        for c in ctx.matching(ctx.patient.conditions, other):
            if c.onset is not None and c.onset <= ctx.as_of:
                events.append((c.onset, _describe(c, ctx, other)))
        for p in ctx.matching(ctx.patient.procedures, other):
            if p.date is not None and p.date <= ctx.as_of:
                events.append((p.date, _describe(p, ctx, other)))
    if concept.tests_current_days is not None:
        for test in concept.tests:
            for o in ctx.matching(ctx.patient.observations, test):
                if o.result == "negative" and o.effective is not None and o.effective <= ctx.as_of:
                    events.append((o.effective, f"{_describe(o, ctx, test)} negative"))
    events.sort(key=lambda e: e[0])
    return events


def _current_by_tests(ctx: Context, concept: Concept, name: str) -> Verdict | None:
    """The newest result of the concept's tests, read as its current state (pregnancy status).

    Positive within ``tests_current_days``: present. Negative within it: absent, even in an open
    world. Positive but older (and younger than ``max_duration_days``): unknown, the state may have
    changed. Anything older says nothing about now.
    """
    assert concept.tests_current_days is not None
    results = [
        (o, test)
        for test in concept.tests
        for o in ctx.matching(ctx.patient.observations, test)
        if o.result is not None and o.effective is not None and o.effective <= ctx.as_of
    ]
    if not results:
        return None
    obs, test = max(results, key=lambda ot: ot[0].effective or date.min)
    assert obs.effective is not None
    age = (ctx.as_of - obs.effective).days
    ev = (_obs_evidence(obs, test, ctx),)
    label = f"{_describe(obs, ctx, test)} {obs.result} on {obs.effective}"
    window = concept.tests_current_days
    if age <= window:
        truth = Tri.TRUE if obs.result == "positive" else Tri.FALSE
        return Verdict(truth, f"{label}, within the {window} days that show the current state", evidence=ev)
    limit = concept.max_duration_days
    if obs.result == "positive" and (limit is None or age <= limit):
        return Verdict(
            Tri.UNKNOWN,
            f"{label}, more than {window} days ago: whether the {name.lower()} continues is not recorded",
            evidence=ev,
            missing=(f"current {name.lower()} status (a {ctx.name(test)} of the last {window} days)",),
        )
    return None


def visit_condition(r: n.Condition, ctx: Context) -> Verdict:
    name = ctx.name(r.concept)
    concept = ctx.vocab.concepts.get(r.concept)
    if (
        concept is not None
        and concept.sex is not None
        and ctx.patient.sex not in (None, "unknown", "other")
        and ctx.patient.sex != concept.sex
    ):
        return Verdict(
            Tri.FALSE,
            f"{name} does not apply to a {ctx.patient.sex} patient",
            evidence=(Evidence(kind="demographic", description="administrative sex", value=ctx.patient.sex),),
        )
    return _unmatched_note(ctx, name, _unread_caveat(ctx, "condition", name, _condition_verdict(r, ctx, name, concept)))


def _unreadable_conditions(ctx: Context) -> list[Any]:
    """Condition records a closed-world ICD-10-CM reading cannot see through: in a system the engine does not
    read, or SNOMED CT whose code no concept lists and whose display names no ICD-10-CM title or inclusion
    term (SNOMED CT records that do map say which ICD-10-CM code they are, so they are seen)."""
    return list(ctx.blind_conditions)


def _unmatched_note(ctx: Context, name: str, verdict: Verdict) -> Verdict:
    """A condition verdict other than 'yes' names the SNOMED CT records that matched no concept, by code
    or by text through ICD-10-CM: one of them could be the condition, so none is silently missed."""
    if verdict.truth is Tri.TRUE:
        return verdict
    unmatched = ctx.unmatched_snomed
    if not unmatched:
        return verdict
    listed = _first_few([f"SNOMED {rec.code} '{rec.text or ''}'" for rec in unmatched], "; ")
    note = f"{len(unmatched)} condition record(s) matched no concept by code or by text ({listed}); not read as {name}"
    return replace(verdict, notes=(*verdict.notes, note))


def _condition_verdict(r: n.Condition, ctx: Context, name: str, concept: Concept | None) -> Verdict:
    records = ctx.matching(ctx.patient.conditions, r.concept, r.excluding)
    now = r.timing == "current" or r.within is not None or r.duration is not None
    ends = _end_events(ctx, concept) if concept is not None and now else []
    truths: list[tuple[Tri, ConditionRecord]] = []
    notes: list[str] = []
    for rec in records:
        ended_by = next((e for e in ends if rec.onset is not None and e[0] >= rec.onset), None)
        truths.append((_condition_truth(r, rec, ctx, concept, ended_by[0] if ended_by else None), rec))
        if ended_by is not None and rec.abatement is None:
            notes.append(
                f"{_describe(rec, ctx, r.concept)} (onset {rec.onset}) ended by {ended_by[1]} on {ended_by[0]}"
            )
        elif now and ctx.vocab.is_history_code(normalise_system(rec.system), rec.code):
            notes.append(
                f"{_describe(rec, ctx, r.concept)} is a personal-history code: it shows {name.lower()} before "
                f"{rec.onset or 'an unknown date'}, not a current one, and its date is not the date of the diagnosis"
            )
        elif now and ctx.vocab.is_remission_code(normalise_system(rec.system), rec.code):
            notes.append(
                f"{_describe(rec, ctx, r.concept)} records {name.lower()} in remission: it was present, but whether "
                "it is current is not settled by the code"
            )
        elif now and _implausibly_long(rec, ctx, concept):
            assert concept is not None
            since = f"since {rec.onset}" if rec.onset else "with no onset date"
            notes.append(
                f"data quality: {_describe(rec, ctx, r.concept)} recorded active {since} and never ended, longer "
                f"than {name.lower()} can last ({concept.max_duration_days} days): not read as current"
            )
    evidence = tuple(
        _record_evidence("condition", r.concept, rec, ctx, value=rec.status, date=rec.onset) for _, rec in truths
    )
    by_test = (
        _current_by_tests(ctx, concept, name)
        if concept is not None
        and concept.tests_current_days is not None
        and r.timing == "current"
        and r.within is None
        and r.duration is None
        else None
    )
    verdict = _condition_result(r, ctx, name, truths, evidence, by_test)
    if verdict.truth is Tri.UNKNOWN and any(note.startswith("data quality") for note in notes):
        verdict = replace(verdict, missing=(f"an end date for the {name} record, or a current {name.lower()} status",))
    if notes:
        verdict = replace(verdict, reason=f"{verdict.reason} ({'; '.join(notes)})", notes=(*verdict.notes, *notes))
    return verdict


def _condition_result(
    r: n.Condition,
    ctx: Context,
    name: str,
    truths: list[tuple[Tri, ConditionRecord]],
    evidence: tuple[Evidence, ...],
    by_test: Verdict | None,
) -> Verdict:
    what = _condition_phrase(r, name)
    since = window_start(r, ctx.as_of)
    hits = [rec for t, rec in truths if t is Tri.TRUE]
    if hits:
        first = hits[0]
        onset = f" (onset {first.onset})" if first.onset else ""
        return Verdict(Tri.TRUE, f"{_describe(first, ctx, r.concept)}{onset}: {what}", evidence=evidence)
    if by_test is not None and by_test.truth is Tri.TRUE:
        return replace(by_test, reason=f"{by_test.reason}: {what}", evidence=(*by_test.evidence, *evidence))
    found = any_of(t for t, _ in truths)
    if by_test is not None and by_test.truth is Tri.FALSE and found is Tri.FALSE:
        # A recent negative result decides the current state, also in an open world; records whose
        # onset precedes it were ended by it above.
        return replace(by_test, reason=f"{by_test.reason}: not {what}", evidence=(*by_test.evidence, *evidence))
    if by_test is not None and by_test.truth is Tri.UNKNOWN and found is not Tri.UNKNOWN:
        return replace(by_test, evidence=(*by_test.evidence, *evidence))
    if not truths:
        return _closed(ctx, Tri.FALSE, f"no record of {name}", name, kind="condition", concept=r.concept, since=since)
    if found is Tri.UNKNOWN:
        return _closed(
            ctx,
            Tri.UNKNOWN,
            f"{name} recorded but dates or status do not show whether {what}",
            name,
            evidence,
            kind="condition",
            concept=r.concept,
        )
    return _closed(
        ctx,
        Tri.FALSE,
        f"{name} recorded, but not {what}",
        name,
        evidence,
        kind="condition",
        concept=r.concept,
        since=since,
    )


def _condition_phrase(r: n.Condition, name: str) -> str:
    if r.within is not None:
        lead = ""
    else:
        lead = "history of " if r.timing == "history" else "active "
    parts = [lead + name]
    if r.duration:
        parts.append(f"for {r.duration.op} {_fmt(r.duration.duration.amount)} {r.duration.duration.unit}")
    if r.within:
        parts.append(f"within {_fmt(r.within.amount)} {r.within.unit}")
    return " ".join(parts)


def _interval(rec: MedicationRecord, ctx: Context) -> tuple[date, date] | None:
    if rec.start is None:
        return None
    end = rec.end if rec.end is not None else ctx.as_of
    return rec.start, min(end, ctx.as_of)


def longest_run(intervals: Iterable[tuple[date, date]]) -> int:
    """Longest run of consecutive days covered by the intervals (inclusive, merged when they touch)."""
    best = 0
    cur: tuple[date, date] | None = None
    for start, end in sorted(intervals):
        if end < start:
            continue
        if cur is not None and start <= cur[1] + timedelta(days=1):
            cur = (cur[0], max(cur[1], end))
        else:
            cur = (start, end)
        best = max(best, (cur[1] - cur[0]).days + 1)
    return best


def _medication_evidence(concept: str, records: Sequence[MedicationRecord], ctx: Context) -> tuple[Evidence, ...]:
    return tuple(
        _record_evidence("medication", concept, rec, ctx, value=f"{rec.start or '?'} to {rec.end or 'ongoing'}",
                         date=rec.start)
        for rec in records
    )  # fmt: skip


def visit_medication(r: n.Medication, ctx: Context) -> Verdict:
    name = ctx.name(r.concept)
    return _unread_caveat(ctx, "medication", name, _medication_verdict(r, ctx, name))


def _medication_verdict(r: n.Medication, ctx: Context, name: str) -> Verdict:
    records = ctx.matching(ctx.patient.medications, r.concept, r.excluding)
    since = window_start(r, ctx.as_of)
    if not records:
        return _closed(ctx, Tri.FALSE, f"no record of {name}", name, kind="medication", concept=r.concept, since=since)
    evidence = _medication_evidence(r.concept, records, ctx)
    undated = [rec for rec in records if rec.start is None]
    first = _first_day(ctx.as_of, r.within) if r.within else None
    clipped: list[tuple[date, date]] = []
    for rec in records:
        iv = _interval(rec, ctx)
        if iv is None or iv[0] > ctx.as_of:
            continue
        start, end = iv
        if first is not None:
            if end < first:
                continue
            start = max(start, first)
        elif r.timing == "current" and r.consecutive_days is None and end < ctx.as_of:
            continue
        clipped.append((start, end))
    where = (
        f" between {first} and {ctx.as_of}"
        if first
        else (" now" if r.timing == "current" and r.consecutive_days is None else "")
    )
    if r.consecutive_days is not None:
        run = longest_run(clipped)
        need = r.consecutive_days.duration.days
        ok = _compare(run, r.consecutive_days.op, need)
        reason = (
            f"{name}: longest run {run} consecutive day(s){where}; the criterion needs "
            f"{r.consecutive_days.op} {_fmt(need)} days"
        )
        truth = Tri.TRUE if ok else (Tri.UNKNOWN if undated else Tri.FALSE)
    else:
        truth = Tri.TRUE if clipped else (Tri.UNKNOWN if undated else Tri.FALSE)
        reason = f"{name} taken{where}" if clipped else f"{name} recorded but not taken{where}"
    by_text = [rec for rec in records if ctx.by_text(rec, r.concept)]
    if by_text:
        reason += f" ({len(by_text)} record(s) matched by text: '{by_text[0].text}')"
    if truth is Tri.UNKNOWN:
        reason += f"; {len(undated)} record(s) without a start date"
    return _closed(ctx, truth, reason, name, evidence, kind="medication", concept=r.concept, since=since)


def visit_stabledose(r: n.StableDose, ctx: Context) -> Verdict:
    name = ctx.name(r.concept)
    start = ctx.as_of - timedelta(days=round(r.duration.days))
    records = ctx.matching(ctx.patient.medications, r.concept)
    changes, undated = [], []
    for rec in records:
        if rec.start is None:
            undated.append(rec)
        elif start < rec.start <= ctx.as_of or (rec.end is not None and start < rec.end < ctx.as_of):
            changes.append(rec)
    evidence = _medication_evidence(r.concept, records, ctx)
    if changes:
        rec = changes[0]
        return Verdict(
            Tri.FALSE,
            f"{name} started or changed on {rec.start if rec.start and rec.start > start else rec.end}"
            f", within the {_fmt(r.duration.amount)} {r.duration.unit} before {ctx.as_of}",
            evidence=evidence,
        )
    if undated:
        return Verdict(
            Tri.UNKNOWN,
            f"{name} recorded without a start date; stability cannot be checked",
            evidence=evidence,
            missing=(f"start date of {name}",),
        )
    covered = observed(ctx.patient, start, ctx.as_of)
    open_world = ctx.is_open("medication", r.concept)
    if open_world or not ctx.vocab.complete(r.concept) or not covered:
        why = (
            "open world"
            if open_world
            else f"the code set for {name} is not reviewed as complete"
            if not ctx.vocab.complete(r.concept)
            else f"no observation period of the patient covers {start} to {ctx.as_of}"
        )
        return Verdict(
            Tri.UNKNOWN,
            f"no recorded change of {name} since {start} ({why})",
            evidence=evidence,
            missing=(f"dose history of {name}",),
        )
    return Verdict(Tri.TRUE, f"no start or change of {name} since {start}", evidence=evidence)


def visit_procedure(r: n.Procedure, ctx: Context) -> Verdict:
    name = ctx.name(r.concept)
    return _unread_caveat(ctx, "procedure", name, _procedure_verdict(r, ctx, name))


def _procedure_verdict(r: n.Procedure, ctx: Context, name: str) -> Verdict:
    records: list[ProcedureRecord] = [
        rec
        for rec in ctx.matching(ctx.patient.procedures, r.concept, r.excluding)
        if rec.date is None or rec.date <= ctx.as_of
    ]
    since = window_start(r, ctx.as_of)
    if not records:
        return _closed(ctx, Tri.FALSE, f"no record of {name}", name, kind="procedure", concept=r.concept, since=since)
    evidence = tuple(_record_evidence("procedure", r.concept, rec, ctx, date=rec.date) for rec in records)
    if r.within is None:
        first = records[0]
        return Verdict(
            Tri.TRUE, f"{_describe(first, ctx, r.concept)} on {first.date or 'an unknown date'}", evidence=evidence
        )
    start = _first_day(ctx.as_of, r.within)
    hits = [rec for rec in records if rec.date is not None and rec.date >= start]
    done = [rec for rec in hits if not ctx.vocab.is_status_code(normalise_system(rec.system), rec.code)]
    if done:
        return Verdict(
            Tri.TRUE, f"{_describe(done[0], ctx, r.concept)} on {done[0].date}, on or after {start}", evidence=evidence
        )
    if hits:  # Z94.0 "kidney transplant status" dated last week: a transplant was done, but not when
        return Verdict(
            Tri.UNKNOWN,
            f"{_describe(hits[0], ctx, r.concept)} on {hits[0].date} records the status a {name} leaves, not when it "
            f"was done: whether on or after {start} is not recorded",
            evidence=evidence,
            missing=(f"the date of the {name}",),
        )
    if any(rec.date is None for rec in records):
        return _closed(
            ctx, Tri.UNKNOWN, f"{name} recorded without a date", name, evidence, kind="procedure", concept=r.concept
        )
    last = max(rec.date for rec in records if rec.date is not None)
    return _closed(
        ctx,
        Tri.FALSE,
        f"{name} last on {last}, before {start}",
        name,
        evidence,
        kind="procedure",
        concept=r.concept,
        since=since,
    )


def _merge(truth: Tri, reason: str, parts: Sequence[Verdict], decisive: Sequence[Verdict] | None = None) -> Verdict:
    used = parts if decisive is None else decisive
    return Verdict(
        truth,
        reason,
        evidence=tuple(e for p in used for e in p.evidence),
        missing=tuple(dict.fromkeys(m for p in used for m in p.missing)),
        notes=tuple(dict.fromkeys(x for p in parts for x in p.notes)),
        children=tuple(parts),
    )


def _junction(items: Sequence[n.Node], ctx: Context, combine: Callable[[Iterable[Tri]], Tri], decisive: Tri) -> Verdict:
    """AND (decisive FALSE) and OR (decisive TRUE): the reason quotes the parts that decided it."""
    parts = [evaluate(i, ctx) for i in items]
    truth = combine(p.truth for p in parts)
    if truth is decisive:
        deciding = [p for p in parts if p.truth is decisive]
        return _merge(truth, "; ".join(p.reason for p in deciding), parts, deciding)
    if truth is Tri.UNKNOWN:
        unknown = [p for p in parts if p.truth is Tri.UNKNOWN]
        known = [p for p in parts if p.truth is not Tri.UNKNOWN]
        reason = "; ".join(p.reason for p in unknown) + "".join(f"; {p.reason}" for p in known)
        return _merge(truth, reason, parts, parts)
    return _merge(truth, "; ".join(p.reason for p in parts), parts)


def visit_and(r: n.And, ctx: Context) -> Verdict:
    return _junction(r.items, ctx, all_of, Tri.FALSE)


def visit_or(r: n.Or, ctx: Context) -> Verdict:
    return _junction(r.items, ctx, any_of, Tri.TRUE)


def visit_not(r: n.Not, ctx: Context) -> Verdict:
    inner = evaluate(r.item, ctx)
    return Verdict(~inner.truth, inner.reason, inner.evidence, inner.missing, inner.notes, (inner,))


def visit_implies(r: n.Implies, ctx: Context) -> Verdict:
    cond = evaluate(r.condition, ctx)
    then = evaluate(r.then, ctx)
    truth = (~cond.truth) | then.truth
    if cond.truth is Tri.FALSE:
        return _merge(truth, f"does not apply: {cond.reason}", [cond, then], [cond])
    return _merge(truth, f"{cond.reason}; {then.reason}", [cond, then])


def visit_ambiguous(r: n.Ambiguous, ctx: Context) -> Verdict:
    parts = [evaluate(i, ctx) for i in r.readings]
    truths = {p.truth for p in parts}
    if len(truths) == 1:
        truth = truths.pop()
        agree = "every reading agrees" if truth is not Tri.UNKNOWN else "every reading is undecided"
        return _merge(truth, f"{parts[0].reason} ({agree})", parts)
    return Verdict(
        Tri.UNKNOWN,
        f"the text is ambiguous ({r.reason}) and its readings disagree",
        evidence=tuple(e for p in parts for e in p.evidence),
        missing=("coordinator review: which reading the protocol means",),
        children=tuple(parts),
    )


def visit_measurement(r: n.Measurement, ctx: Context) -> Verdict:
    limit = f"{_fmt(r.value)} x {r.relative}" if r.relative else _fmt(r.value) + (f" {r.unit}" if r.unit else "")
    if r.op == "between":
        limit = f"{_fmt(r.value)}-{_fmt(r.value2 or 0)}" + (f" {r.unit}" if r.unit else "")
    return Verdict(
        Tri.UNKNOWN,
        f"'{r.name}' is not in the vocabulary, so '{r.name} {r.op} {limit}' cannot be checked against the record",
        missing=(f"{r.name} (a value to compare with {r.op} {limit}), or coordinator review",),
    )


def visit_unparsed(r: n.Unparsed, ctx: Context) -> Verdict:
    return Verdict(Tri.UNKNOWN, f'not computable ({r.reason}): "{r.text}"', missing=(f"coordinator review: {r.text}",))


_VISITORS: dict[type, Callable[[Any, Context], Verdict]] = {
    n.Age: visit_age,
    n.Sex: visit_sex,
    n.Lab: visit_lab,
    n.LabResult: visit_labresult,
    n.Condition: visit_condition,
    n.Medication: visit_medication,
    n.StableDose: visit_stabledose,
    n.Procedure: visit_procedure,
    n.And: visit_and,
    n.Or: visit_or,
    n.Not: visit_not,
    n.Implies: visit_implies,
    n.Ambiguous: visit_ambiguous,
    n.Measurement: visit_measurement,
    n.Unparsed: visit_unparsed,
}

from .evaluate_allergy import visit_allergy  # noqa: E402  (it uses the helpers above)

_VISITORS[n.Allergy] = visit_allergy
