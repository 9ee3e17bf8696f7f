"""FHIR R4 Bundles -> the native :class:`~eligibility.patient.Patient` (and back, for tests and users).

Why an adapter and not FHIR inside the evaluator: the evaluator reads one small, explicit model; this
module is where FHIR's many shapes (``onset[x]``, ``effective[x]``, referenced Medications, panels with
components) are reduced to it, and where everything that cannot be reduced *without guessing* is left
out and said out loud in ``Patient.notes`` (which every screening result repeats).

Parsing and validation use ``fhir.resources`` (version 8, its ``R4B`` models, which read R4 data).
Each resource of a type this module maps is validated on its own, so an error names the entry index,
the resource id and the field. Resource types the adapter ignores (Claim, Encounter,
ExplanationOfBenefit, ...) are counted and *not* validated: in Synthea bundles they are about 60% of
the validation time (``benchmarks/fhir.py`` measures both routes), and a malformed Claim must not block
screening on a well-formed lab. ``validate="all"`` validates them too.

Mapping decisions (each keeps "never a confident wrong answer"):

- **Dates.** A FHIR dateTime keeps its local calendar day. A partial date ("2019", "2019-05") is not
  turned into a day: the field stays empty and a note says so (the first of the month could be wrong
  by 30 days, which decides "within 12 months").
- **Codes.** A native record holds one code. Of several codings the first one the vocabulary maps to a
  concept is kept (preferring LOINC for observations, ICD-10-CM then SNOMED CT for conditions, RxNorm
  then ATC for drugs), else the first coding in a known system, else the first coding. Known systems
  are stored by short name (``loinc``); other systems keep their URI, so the screening result can name
  them as unmatched.
- **Numbers.** ``valueQuantity.code`` (UCUM) is preferred to the display ``unit``. A value with a
  comparator ("<5") is not the number 5: no value, with a note. A reference range is kept only in the
  value's unit (or converted to it when no molar mass is needed); otherwise dropped with a note.
- **Qualitative results.** Only exact answers are read: positive / detected / reactive / present
  (and SNOMED CT or LOINC answer codes for them, and "Pregnant" 77386006 for pregnancy status
  82810-3) give ``positive``; their negations give ``negative``. "not HIV positive" or "Never smoker"
  are kept without a result and noted, never read by substring.
- **Medication exposure.** See :func:`_exposure`: ``end`` None means *ongoing*, so it is only used when
  the resource says the drug is still being taken (status active / in-progress).
- **Allergies** become an :class:`AllergyRecord` and also a condition with concept ``allergy`` (the
  evaluator matches conditions; without that mirror "history of allergy" would say "no record").
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from ..concepts import LOCAL_ROUTE, Vocabulary, default_vocabulary
from ..errors import InputError, UnitError
from ..evaluate import KNOWN_SYSTEMS, normalise_system
from ..patient import (
    BAD_RANGE,
    BELOW_ZERO,
    SEXES,
    AllergyRecord,
    ConditionRecord,
    MedicationRecord,
    Observation,
    Patient,
    ProcedureRecord,
    SexValue,
    read_json,
    untrusted_range,
)
from ..units import canonical_unit, conversion_factor
from .fhir_export import patient_to_bundle
from .fhir_values import (
    _ALLERGY_STATUSES,
    _ANSWER_CODES,
    _CONDITION_STATUSES,
    _ONGOING_STATUS,
    _PREFERRED_SYSTEMS,
    _VOID_STATUS,
    BUNDLE_TYPES,
    MAPPED_TYPES,
    _after,
    _age_unit,
    _concept_text,
    _day,
    _fmt_number,
    _number,
    _quantity_unit,
    _status_code,
    _text_result,
    allergy_concept,
    locally_given,
)

__all__ = ["MAPPED_TYPES", "bundle_to_patient", "is_fhir_bundle", "load_fhir_bundle", "patient_to_bundle"]


# ------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------


def is_fhir_bundle(data: object) -> bool:
    """Whether parsed JSON is a FHIR Bundle (format detection is by ``resourceType``)."""
    return isinstance(data, dict) and data.get("resourceType") == "Bundle"


def load_fhir_bundle(path: str | Path, validate: Literal["mapped", "all"] = "mapped") -> Patient:
    """Read a FHIR R4 Bundle file into a native Patient; errors name the file, entry and field."""
    p = Path(path)
    return bundle_to_patient(read_json(p), origin=str(p), validate=validate, default_id=p.stem)


def bundle_to_patient(
    data: object,
    origin: str = "<bundle>",
    validate: Literal["mapped", "all"] = "mapped",
    vocabulary: Vocabulary | None = None,
    default_id: str | None = None,
    reader: Callable[[dict[str, Any]], Any | None] | None = None,
) -> Patient:
    """Map a parsed FHIR R4 Bundle (transaction, collection, searchset, batch, document) to a Patient.

    ``vocabulary`` only chooses which of several codings a record keeps (see the module docstring).
    ``reader`` (the hook's fast path, :func:`eligibility.service.lean_read.read`) may answer a mapped
    resource's model in place of ``fhir.resources`` validation; when it answers None the resource is
    validated as usual, so refusals are the same.
    Raises :class:`InputError` for a document that is not a single-patient Bundle or an entry that
    fails FHIR validation.
    """
    if not isinstance(data, dict):
        raise InputError("not a FHIR Bundle: the document is not a JSON object", origin)
    rtype = data.get("resourceType")
    if rtype != "Bundle":
        what = (
            f"a FHIR {rtype} resource"
            if isinstance(rtype, str)
            else "no resourceType"
            if rtype is None
            else f"resourceType is {json.dumps(rtype)}, not a string"
        )
        raise InputError(f"not a FHIR Bundle ({what})", origin, "resourceType")
    btype = data.get("type")
    if btype not in BUNDLE_TYPES:
        raise InputError(
            f"Bundle type {btype!r} is not read (expected one of {', '.join(sorted(BUNDLE_TYPES))})", origin, "type"
        )
    entries = data.get("entry", [])
    if not isinstance(entries, list):
        raise InputError("Bundle.entry must be a list", origin, "entry")
    mapper = _Mapper(origin, vocabulary or default_vocabulary())
    resources = mapper.validate(entries, validate, reader)
    bundle_id = data.get("id") if isinstance(data.get("id"), str) else None
    return mapper.patient(resources, default_id or bundle_id or "fhir-patient")


# ------------------------------------------------------------------------------------------------
# The mapper
# ------------------------------------------------------------------------------------------------


#: The Observation value[x] choices whose presence makes the main record a result (components aside).
_VALUE_ELEMENTS = tuple(
    f"value{kind}" for kind in ("Quantity", "CodeableConcept", "String", "Boolean", "Integer", "Range", "Ratio")
)


class _Mapper:
    """One bundle's mapping: records plus counted notes (so 50 stopped orders make one note)."""

    def __init__(self, origin: str, vocab: Vocabulary):
        self.origin = origin
        self.vocab = vocab
        self.notes: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.skipped: Counter[str] = Counter()
        self.birth: date | None = None
        self.medications: dict[str, Any] = {}

    # -- notes -----------------------------------------------------------------------------------

    def note(self, message: str, example: str | None = None) -> None:
        self.notes[message] += 1
        if example is not None:
            shown = self.examples.setdefault(message, [])
            if example not in shown and len(shown) < 3:
                shown.append(example)

    def rendered_notes(self) -> tuple[str, ...]:
        out = []
        if self.skipped:
            counts = ", ".join(f"{t} {n}" for t, n in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0])))
            out.append(f"FHIR: resources not used for screening were skipped: {counts}")
        for message, count in self.notes.items():
            shown = self.examples.get(message)
            more = f" (e.g. {'; '.join(shown)})" if shown else ""
            out.append(f"FHIR: {message}{more}" if count == 1 else f"FHIR: {count} x {message}{more}")
        return tuple(out)

    # -- validation ------------------------------------------------------------------------------

    def validate(
        self,
        entries: list[Any],
        validate: Literal["mapped", "all"],
        reader: Callable[[dict[str, Any]], Any | None] | None = None,
    ) -> list[tuple[int, str, Any, Any]]:
        """(entry index, fullUrl, raw resource, validated model) for every resource to map."""
        from fhir.resources.R4B import get_fhir_model_class

        out: list[tuple[int, str, Any, Any]] = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise InputError(f"entry {index} is not a JSON object", self.origin, f"entry[{index}]")
            resource = entry.get("resource")
            if resource is None:
                self.skipped["entries without a resource"] += 1
                continue
            if not isinstance(resource, dict):
                raise InputError(
                    f"entry {index}: resource is not a JSON object", self.origin, f"entry[{index}].resource"
                )
            rtype = resource.get("resourceType")
            rid = resource.get("id")
            label = f"{rtype}/{rid}" if rid else f"{rtype} (no id)"
            if not isinstance(rtype, str) or not rtype:
                raise InputError(
                    f"entry {index}: resource has no resourceType", self.origin, f"entry[{index}].resource.resourceType"
                )
            mapped = rtype in MAPPED_TYPES
            if not mapped:
                self.skipped[rtype] += 1
                if validate != "all":
                    continue
            quick = reader(resource) if mapped and reader is not None else None
            if quick is not None:
                full_url = entry.get("fullUrl")
                out.append((index, full_url if isinstance(full_url, str) else "", resource, quick))
                continue
            try:
                model_class = get_fhir_model_class(rtype)
            except ValueError:
                raise InputError(
                    f"entry {index}: '{rtype}' is not a FHIR R4 resource type",
                    self.origin,
                    f"entry[{index}].resource.resourceType",
                ) from None
            try:
                model = model_class.model_validate(resource)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(part) for part in first["loc"])
                field = f"entry[{index}].resource" + (f".{loc}" if loc else "")
                raise InputError(
                    f"entry {index} ({label}) is not valid FHIR R4: {first['msg']}", self.origin, field
                ) from None
            if mapped:
                full_url = entry.get("fullUrl")
                out.append((index, full_url if isinstance(full_url, str) else "", resource, model))
        return out

    # -- the patient -------------------------------------------------------------------------------

    def patient(self, resources: list[tuple[int, str, Any, Any]], default_id: str) -> Patient:
        patients = [(i, m) for i, _, _, m in resources if m.get_resource_type() == "Patient"]
        if len(patients) > 1:
            where = ", ".join(str(i) for i, _ in patients)
            raise InputError(
                f"the bundle holds {len(patients)} Patient resources (entries {where}); one patient per bundle",
                self.origin,
                f"entry[{patients[1][0]}]",
            )
        pid = default_id
        sex: SexValue | None = None
        death: date | None = None
        deceased = False
        patient_urls: set[str] = set()
        if patients:
            index, pat = patients[0]
            pid = str(pat.id) if pat.id else default_id
            patient_urls = {u for i, u, _, m in resources if i == index and u}
            self.birth = _day(pat.birthDate)
            if pat.birthDate is not None and self.birth is None:
                self.note(f"birth date '{pat.birthDate}' is not a full date: age unknown")
            sex = pat.gender if pat.gender in SEXES else None
            if pat.gender is not None and sex is None:  # (the Bulk reader reports the same value)
                self.note(f"Patient gender '{pat.gender}' is not one of {', '.join(SEXES)} (kept as unknown)")
            death = _day(pat.deceasedDateTime)
            if death is None and (pat.deceasedBoolean or pat.deceasedDateTime is not None):
                deceased = True
                when = f" ('{pat.deceasedDateTime}', not a full date)" if pat.deceasedDateTime is not None else ""
                self.note(f"the patient is recorded as deceased{when}, date unknown: check before screening")
        else:
            self.note("the bundle has no Patient resource: birth date and sex unknown")
        resources = self.own(resources, pid if patients else None, patient_urls)
        for _, full_url, _, model in resources:
            if model.get_resource_type() == "Medication":
                if model.id:
                    self.medications[f"Medication/{model.id}"] = model
                if full_url:
                    self.medications[full_url] = model

        observations: list[Observation] = []
        conditions: list[ConditionRecord] = []
        medications: list[MedicationRecord] = []
        procedures: list[ProcedureRecord] = []
        allergies: list[AllergyRecord] = []
        for index, _, _, model in resources:
            rtype = model.get_resource_type()
            source = f"{rtype}/{model.id}" if model.id else f"{rtype} in entry {index}"
            status = str(model.status) if getattr(model, "status", None) else None
            if status in _VOID_STATUS.get(rtype, frozenset()):
                self.note(f"{rtype} with status '{status}' ignored", source)
                continue
            if rtype == "Observation":
                observations.extend(self.observation(model, source))
            elif rtype == "Condition":
                conditions.extend(self.condition(model, source))
            elif rtype in _ONGOING_STATUS:
                medications.extend(self.medication(model, rtype, source))
            elif rtype == "Procedure":
                procedures.extend(self.procedure(model, source))
            elif rtype == "AllergyIntolerance":
                for allergy in self.allergy(model, source):
                    allergies.append(allergy)
                    conditions.append(_allergy_condition(allergy))
        return Patient(
            id=pid,
            birth_date=self.birth,
            sex=sex,
            observations=tuple(observations),
            conditions=tuple(conditions),
            medications=tuple(medications),
            procedures=tuple(procedures),
            allergies=tuple(allergies),
            death_date=death,
            deceased=deceased,
            notes=self.rendered_notes(),
        )

    def own(
        self, resources: list[tuple[int, str, Any, Any]], pid: str | None, urls: set[str]
    ) -> list[tuple[int, str, Any, Any]]:
        """The resources about this bundle's patient: routed by ``subject`` (``patient`` for allergies) as
        the Bulk reader routes NDJSON lines, so a resource about someone else is never this patient's record.

        A reference names the patient by ``Patient/<id>`` (also absolute or versioned) or by the Patient
        entry's ``fullUrl`` (``urn:uuid:...``). With no Patient resource, resources naming different
        subjects cannot be told apart and the bundle is refused.

        A resource naming no patient by reference is never taken as the bundle patient's (the Bulk
        reader rejects such a line too): an Observation (whose subject FHIR allows to be absent) is
        left out and reported -- a lab is never closed world, so its absence is unknown at worst; a
        Condition, medication, procedure or allergy whose subject is only an identifier or a display
        refuses the bundle, as a missing subject does (FHIR requires it): leaving the record out would
        let "no record of ..." decide a criterion, and taking it in would guess whose it is.
        """
        kept: list[tuple[int, str, Any, Any]] = []
        others: set[str] = set()
        for item in resources:
            index, _, _, model = item
            rtype = model.get_resource_type()
            if rtype in ("Patient", "Medication"):
                kept.append(item)
                continue
            field = "patient" if rtype == "AllergyIntolerance" else "subject"
            holder = getattr(model, field, None)
            ref = str(holder.reference) if holder is not None and holder.reference else None
            label = f"{rtype}/{model.id}" if model.id else f"{rtype} in entry {index}"
            if ref is None:
                if rtype != "Observation":
                    raise InputError(
                        f"entry {index} ({label}): {field} names no patient by reference (only an identifier "
                        f"or a display), so whose record it is cannot be told: give {field}.reference",
                        self.origin,
                        f"entry[{index}].resource.{field}",
                    )
                self.note("Observation without a subject reference left out (whose record it is is not stated)", label)
                continue
            if ref in urls or (pid is not None and _reference_id(ref) == pid):
                kept.append(item)
                continue
            if pid is None:
                others.add(ref)
                if len(others) > 1:
                    raise InputError(
                        f"the bundle has no Patient resource and its resources name different subjects "
                        f"({', '.join(sorted(others))}); one patient per bundle",
                        self.origin,
                        f"entry[{index}]",
                    )
                kept.append(item)
                continue
            self.note(
                f"resource about another patient left out (this bundle's patient is Patient/{pid})", f"{label} -> {ref}"
            )
        return kept

    # -- codes -----------------------------------------------------------------------------------

    def coded(self, cc: Any, rtype: str) -> tuple[str | None, str | None, str | None]:
        """(system, code, text) of a CodeableConcept, choosing the coding the vocabulary knows."""
        if cc is None:
            return None, None, None
        codings = [c for c in (cc.coding or ()) if c.code]
        preferred = _PREFERRED_SYSTEMS.get(rtype, ())

        def rank(c: Any) -> tuple[int, int, int]:
            system = normalise_system(c.system)
            known = system in KNOWN_SYSTEMS
            maps = bool(system and known and self.vocab.concepts_for_code(system, str(c.code)))
            order = preferred.index(system) if system in preferred else len(preferred)
            return (0 if maps else 1, 0 if known else 1, order)

        # (one coding is the common case: chosen without ranking it, the same choice at a fraction of the cost)
        chosen = (codings[0] if len(codings) == 1 else min(codings, key=rank)) if codings else None
        text = cc.text or next((c.display for c in cc.coding or () if c.display), None)
        if chosen is None:
            return None, None, str(text) if text else None
        system = normalise_system(chosen.system)
        if system not in KNOWN_SYSTEMS:
            system = str(chosen.system) if chosen.system else None
        return system, str(chosen.code), str(text) if text else None

    # -- Observation -------------------------------------------------------------------------------

    def observation(self, obs: Any, source: str) -> list[Observation]:
        effective = self.observation_date(obs, source)
        out: list[Observation] = []
        main = self.observation_record(obs, obs, source, effective, "Observation")
        has_value = any(getattr(obs, name, None) is not None for name in _VALUE_ELEMENTS)
        if main is not None and (has_value or not obs.component):
            out.append(main)
        for i, component in enumerate(obs.component or ()):
            record = self.observation_record(component, obs, f"{source} component {i}", effective, "Observation")
            if record is not None:
                out.append(record)
        return out

    def observation_date(self, obs: Any, source: str) -> date | None:
        if obs.effectiveDateTime is not None:
            day = _day(obs.effectiveDateTime)
            if day is None:
                self.note("Observation date is not a full date: result has no date", source)
            return day
        if obs.effectivePeriod is not None:
            day = _day(obs.effectivePeriod.start) or _day(obs.effectivePeriod.end)
            if day is None:
                self.note("Observation period has no full date: result has no date", source)
            return day
        if obs.effectiveInstant is not None:
            return _day(obs.effectiveInstant)
        if obs.effectiveTiming is not None:
            self.note("Observation effectiveTiming is not read: result has no date", source)
        return None

    def observation_record(
        self, element: Any, obs: Any, source: str, effective: date | None, rtype: str
    ) -> Observation | None:
        system, code, text = self.coded(element.code, rtype)
        if code is None and text is None:
            self.note("Observation without a code or text skipped", source)
            return None
        label = text or f"{system} {code}"
        value: float | None = None
        unit: str | None = None
        result: Literal["positive", "negative"] | None = None
        if element.valueQuantity is not None:
            q = element.valueQuantity
            if q.comparator:
                self.note(
                    "result with a comparator is not a value (kept without a value)",
                    f"{label} {q.comparator}{q.value} {_quantity_unit(q) or ''}".strip(),
                )
            else:
                value = _number(q.value)
                unit = _quantity_unit(q)
                if value is None:
                    self.note("Observation quantity without a value", source)
        elif element.valueInteger is not None:
            value = float(element.valueInteger)
        if value is not None and value < 0:
            self.note(f"Observation value {BELOW_ZERO} (kept without a value)", f"{label}: {_fmt_number(value)}")
            value = None
        elif element.valueCodeableConcept is not None or element.valueString is not None:
            result = self.qualitative(element.valueCodeableConcept, element.valueString)
            if result is None:
                shown = element.valueString or _concept_text(element.valueCodeableConcept)
                self.note(
                    "coded or text result not read as positive/negative (kept without a result)", f"{label}: {shown!r}"
                )
        elif element.dataAbsentReason is not None:
            self.note(
                "Observation value absent (dataAbsentReason)", f"{label}: {_concept_text(element.dataAbsentReason)}"
            )
        elif any(getattr(element, f"value{k}", None) is not None for k in ("Boolean", "Range", "Ratio", "SampledData")):
            self.note("Observation value type not read (kept without a value)", label)
        ref_low, ref_high = self.reference_range(element, value, unit, label)
        interpretation = _concept_text(element.interpretation[0]) if element.interpretation else None
        if interpretation:
            text = f"{label} (interpretation: {interpretation})"
        return Observation(
            system=system,
            code=code,
            text=text,
            source=source,
            value=value,
            unit=unit,
            result=result,
            effective=effective,
            ref_low=ref_low,
            ref_high=ref_high,
        )

    def qualitative(self, cc: Any, text: str | None) -> Literal["positive", "negative"] | None:
        """positive / negative from answer codes or exact answer text; None when unreadable or conflicting."""
        found: set[Literal["positive", "negative"]] = set()
        if cc is not None:
            for coding in cc.coding or ():
                hit = _ANSWER_CODES.get((str(coding.system), str(coding.code)))
                if hit:
                    found.add(hit)
            if not found:
                texts = [cc.text, *(c.display for c in cc.coding or ())]
                found |= {r for t in texts if t for r in [_text_result(str(t))] if r}
        if text is not None:
            hit = _text_result(text)
            if hit:
                found.add(hit)
        return found.pop() if len(found) == 1 else None

    def reference_range(
        self, element: Any, value: float | None, unit: str | None, label: str
    ) -> tuple[float | None, float | None]:
        ranges = [
            r
            for r in (getattr(element, "referenceRange", None) or ())
            if (r.low is not None or r.high is not None) and (r.type is None or _status_code(r.type) == "normal")
        ]
        if not ranges or value is None:
            return None, None
        rng = next((r for r in ranges if not r.appliesTo and r.age is None), ranges[0])
        bounds: list[float | None] = []
        for q in (rng.low, rng.high):
            if q is None or q.value is None:
                bounds.append(None)
                continue
            factor = self.range_factor(_quantity_unit(q), unit)
            if factor is None:
                self.note(
                    "reference range not in the result's unit (range not used)",
                    f"{label}: range in {_quantity_unit(q) or 'no unit'}, value in {unit or 'no unit'}",
                )
                return None, None
            bounds.append(float(q.value) * factor)
        if untrusted_range(bounds[0], bounds[1]):
            shown = "..".join("" if b is None else _fmt_number(b) for b in bounds)
            self.note(BAD_RANGE, f"{label}: {shown} {unit or ''}".rstrip())
            return None, None
        return bounds[0], bounds[1]

    @staticmethod
    def range_factor(range_unit: str | None, value_unit: str | None) -> float | None:
        if range_unit is None or value_unit is None:
            return 1.0 if range_unit == value_unit else None
        try:
            if canonical_unit(range_unit) == canonical_unit(value_unit):
                return 1.0
            return conversion_factor(range_unit, value_unit)
        except UnitError:
            return None

    # -- Condition ---------------------------------------------------------------------------------

    def identified(
        self, resource: Any, kind: str, source: str, *, verified: bool
    ) -> tuple[str | None, str | None, str | None] | None:
        """The record's coding, or None (with a note) when it is refuted or void, or names nothing."""
        if verified:
            verification = _status_code(resource.verificationStatus)
            if verification in ("refuted", "entered-in-error"):
                self.note(f"{kind} with verificationStatus '{verification}' ignored", source)
                return None
        system, code, text = self.coded(resource.code, kind)
        if code is None and text is None:
            self.note(f"{kind} without a code or text skipped", source)
            return None
        return system, code, text

    def condition(self, cond: Any, source: str) -> list[ConditionRecord]:
        coding = self.identified(cond, "Condition", source, verified=True)
        if coding is None:
            return []
        system, code, text = coding
        verification = _status_code(cond.verificationStatus)
        if verification in ("unconfirmed", "provisional", "differential"):
            self.note(f"Condition with verificationStatus '{verification}' kept as recorded", text or source)
        onset = self.when(cond, "onset", source, "Condition onset")
        abatement = self.when(cond, "abatement", source, "Condition abatement")
        clinical = _status_code(cond.clinicalStatus)
        abated = abatement is not None or any(
            getattr(cond, f"abatement{k}", None) is not None
            for k in ("DateTime", "Age", "Period", "Range", "String")  # a partial date still says it ended
        )
        if clinical in _CONDITION_STATUSES:
            status = clinical
        elif abated:
            status = "resolved"
        elif clinical is not None:  # present but unreadable: not the 'active' default
            self.note(f"Condition clinicalStatus '{clinical}' not read (status unknown)", source)
            status = "unknown"
        else:
            status = "active"  # FHIR: a condition without clinicalStatus or abatement is taken as active
        return [
            ConditionRecord(
                system=system, code=code, text=text, source=source, onset=onset, abatement=abatement, status=status
            )
        ]

    def when(self, resource: Any, field: str, source: str, what: str) -> date | None:
        """A ``field[x]`` choice (dateTime, Period, Age, Range, String) as a day, or None with a note."""
        value = getattr(resource, f"{field}DateTime", None)
        if value is not None:
            day = _day(value)
            if day is None:
                self.note(f"{what} '{value}' is not a full date (not used)", source)
            return day
        period = getattr(resource, f"{field}Period", None)
        if period is not None:
            day = _day(period.start) or (_day(period.end) if period.start is None else None)
            if day is None:
                self.note(f"{what} period has no full start date (not used)", source)
            return day
        age = getattr(resource, f"{field}Age", None)
        if age is not None:
            if self.birth is None or age.value is None:
                self.note(f"{what} given as an age, but the birth date is unknown (not used)", source)
                return None
            day = _after(self.birth, float(age.value), _age_unit(age))
            if day is None:
                self.note(f"{what} age unit {_age_unit(age)!r} not read (not used)", source)
            return day
        for kind in ("Range", "String"):
            if getattr(resource, f"{field}{kind}", None) is not None:
                self.note(f"{what} given as a {kind.lower()} has no date (not used)", source)
        return None

    # -- Medications -------------------------------------------------------------------------------

    def medication(self, med: Any, rtype: str, source: str) -> list[MedicationRecord]:
        system, code, text = self.medication_code(med, source)
        if code is None and text is None:
            self.note(f"{rtype} without a readable medication skipped", source)
            return []
        start, end, authored = self.exposure(med, rtype, source, text or f"{system} {code}")
        local = locally_given(_route_texts(med, rtype))
        return [
            MedicationRecord(
                system=system,
                code=code,
                text=text,
                source=source,
                start=start,
                end=end,
                authored=authored,
                concept=LOCAL_ROUTE if local else None,
            )
        ]

    def medication_code(self, med: Any, source: str) -> tuple[str | None, str | None, str | None]:
        if med.medicationCodeableConcept is not None:
            return self.coded(med.medicationCodeableConcept, "Medication")
        ref = med.medicationReference.reference if med.medicationReference is not None else None
        target = None
        if ref and ref.startswith("#"):
            target = next((c for c in med.contained or () if c.id == ref[1:]), None)
        elif ref:
            target = self.medications.get(ref)
            if target is None and "Medication/" in ref:
                target = self.medications.get("Medication/" + ref.rsplit("Medication/", 1)[1])
        if target is None or target.get_resource_type() != "Medication":
            display = med.medicationReference.display if med.medicationReference is not None else None
            self.note("medication reference not found in the bundle", f"{source} -> {ref}")
            return None, None, str(display) if display else None
        return self.coded(target.code, "Medication")

    def exposure(self, med: Any, rtype: str, source: str, label: str) -> tuple[date | None, date | None, date | None]:
        """(start, end, authored) of one medication resource.

        ``end`` None means *ongoing up to the screening date* in the native model, so an open end is
        only written when the status says the drug is still taken (MedicationRequest /
        MedicationStatement ``active``, MedicationAdministration ``in-progress``). A resource that is
        completed, stopped, on hold or of unknown status and has no end date shows that the drug was
        taken from some day to some *unknown* later day; neither "ongoing" (end None) nor "one day"
        (end = start) is what the data says, and either would decide a "for > 3 consecutive days"
        criterion wrongly. So such a record keeps ``start`` empty (the evaluator's rule for a missing
        date: unknown, never pass) and the order date in ``authored``, with a note.

        Dates come from dosage ``timing.repeat.boundsPeriod`` / ``boundsDuration`` when present, else
        ``effective[x]`` (statements, administrations), else ``authoredOn`` (requests) or
        ``dateAsserted`` (statements). An administration at a dateTime is a one-day exposure.
        """
        authored = _day(getattr(med, "authoredOn", None)) or _day(getattr(med, "dateAsserted", None))
        start: date | None = None
        end: date | None = None
        end_given = False
        if rtype in ("MedicationStatement", "MedicationAdministration"):
            if med.effectiveDateTime is not None:
                start = _day(med.effectiveDateTime)
                if rtype == "MedicationAdministration" or med.status != "active":
                    end, end_given = start, start is not None
            elif med.effectivePeriod is not None:
                start = _day(med.effectivePeriod.start)
                end = _day(med.effectivePeriod.end)
                end_given = end is not None
                if rtype == "MedicationAdministration" and end is None and med.status == "completed":
                    end, end_given = start, start is not None  # one administration: a single event
        dosages: list[Any] = []
        if rtype == "MedicationRequest":
            dosages = list(med.dosageInstruction or ())
        elif rtype == "MedicationStatement":
            dosages = list(med.dosage or ())  # (MedicationAdministration.dosage has no timing)
        b_start, b_end, b_given = self.bounds(dosages, start or authored, source)
        if b_start is not None or b_given:
            start = b_start or start or authored
            end, end_given = b_end, b_given
        if start is None and rtype == "MedicationRequest":
            start = authored
        if end_given or start is None:
            return start, end, authored
        if med.status == _ONGOING_STATUS[rtype]:
            return start, None, authored
        self.note(
            f"{rtype} {med.status} without an end date: exposure dates unknown (order date kept as 'authored')",
            f"{label} dated {start}",
        )
        return None, None, authored or start

    def bounds(self, dosages: Iterable[Any], start: date | None, source: str) -> tuple[date | None, date | None, bool]:
        """(start, end, end given) from dosage timing bounds across all dosage lines."""
        starts: list[date] = []
        ends: list[date | None] = []
        for dosage in dosages:
            repeat = dosage.timing.repeat if dosage.timing is not None else None
            if repeat is None:
                continue
            if repeat.boundsPeriod is not None:
                s = _day(repeat.boundsPeriod.start)
                if s is not None:
                    starts.append(s)
                ends.append(_day(repeat.boundsPeriod.end))
            elif repeat.boundsDuration is not None:
                d = repeat.boundsDuration
                after = _after(start, float(d.value), _age_unit(d)) if start and d.value is not None else None
                if start is None or after is None:
                    self.note("dosage boundsDuration not read (no start date or unit)", source)
                    ends.append(None)
                else:
                    ends.append(max(start, after - timedelta(days=1)))  # 10 days from the 1st: 1st-10th
        if not ends:
            return (min(starts) if starts else None), None, False
        if any(e is None for e in ends):
            return (min(starts) if starts else None), None, False
        return (min(starts) if starts else None), max(e for e in ends if e is not None), True

    # -- Procedure, AllergyIntolerance -------------------------------------------------------------

    def procedure(self, proc: Any, source: str) -> list[ProcedureRecord]:
        coding = self.identified(proc, "Procedure", source, verified=False)
        if coding is None:
            return []
        system, code, text = coding
        day = self.when(proc, "performed", source, "Procedure date")
        return [ProcedureRecord(system=system, code=code, text=text, source=source, date=day)]

    def allergy(self, allergy: Any, source: str) -> list[AllergyRecord]:
        coding = self.identified(allergy, "AllergyIntolerance", source, verified=True)
        if coding is None:
            return []
        system, code, text = coding
        clinical = _status_code(allergy.clinicalStatus)
        status: Literal["active", "inactive", "resolved", "unknown"] = "active"
        if clinical in _ALLERGY_STATUSES:
            status = clinical  # type: ignore[assignment]
        elif clinical is not None:  # present but unreadable: not the 'active' default
            self.note(f"AllergyIntolerance clinicalStatus '{clinical}' not read (status unknown)", source)
            status = "unknown"
        criticality = allergy.criticality if allergy.criticality in ("low", "high", "unable-to-assess") else None
        return [
            AllergyRecord(
                system=system,
                code=code,
                text=text,
                source=source,
                criticality=criticality,
                onset=self.when(allergy, "onset", source, "AllergyIntolerance onset"),
                status=status,
                concept=allergy_concept(allergy.category or (), allergy.type, text),
            )
        ]


def _route_texts(med: Any, rtype: str) -> list[str]:
    """One string per dosage line that states a route: the route's text and its codings' displays, joined by
    spaces (fhir_values.locally_given reads them; batch/fhir.py builds the same strings in SQL)."""
    if rtype == "MedicationAdministration":
        dosages = [med.dosage] if med.dosage is not None else []
    elif rtype == "MedicationRequest":
        dosages = list(med.dosageInstruction or ())
    else:
        dosages = list(med.dosage or ())
    out = []
    for dosage in dosages:
        route = dosage.route
        if route is None:
            continue
        words = [route.text, *(c.display for c in route.coding or ())]
        out.append(" ".join(str(w) for w in words if w))
    return out


def _reference_id(ref: str) -> str | None:
    """The patient id a reference names (the Bulk reader's ``fpid`` macro, in Python)."""
    if ref.startswith("urn:uuid:"):
        return ref[9:] or None
    found = re.search(r"(?:^|/)Patient/([^/]+?)(?:/_history/[^/]+)?$", ref)
    return found.group(1) if found else None


def _allergy_condition(allergy: AllergyRecord) -> ConditionRecord:
    """The condition the evaluator matches for "history of allergy" (see AllergyRecord)."""
    return ConditionRecord(
        concept=allergy.concept or "allergy",
        system=allergy.system,
        code=allergy.code,
        text=f"allergy: {allergy.text}" if allergy.text else "allergy",
        source=allergy.source,
        onset=allergy.onset,
        status=allergy.status,
    )
