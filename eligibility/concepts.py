"""The concept vocabulary: what criteria talk about, and how records are matched to it.

Concepts are data (``data/concepts.yaml``); this module only loads and indexes them. The tokenizer
uses the synonyms to find concept mentions in text, the evaluator uses codes to match patient
records and reference ranges for ULN-relative thresholds.

Every code -> concept decision is made here (:meth:`Vocabulary.concepts_for_code`, and
:meth:`Vocabulary.concepts_for_record` for a whole coding with its text), so that the evaluator and
any batch compiler resolve a (system, code) pair the same way. RxNorm has no hierarchy we can
compute offline: drug products are mapped to their ingredients by ``data/rxnorm_products.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .data import load_yaml, word_list
from .errors import VocabularyError
from .units import Affine

Category = Literal["lab", "condition", "medication", "procedure", "finding"]


class RefRange(BaseModel):
    """A default reference range for a sex and an age band ``[age_min, age_max)`` in years."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    low: float | None = None
    high: float | None = None
    unit: str
    sex: Literal["male", "female"] | None = None
    age_min: float = 0
    age_max: float | None = None
    source: str


class AffineConversion(BaseModel):
    """An analyte's explicit non-factor conversion ``to = scale * from + offset`` (HbA1c IFCC <-> NGSP).

    Unit pairs whose relation is a calibration of one analyte, not a property of the units, are data
    here; ``units.conversion`` uses them (and their derived inverse) before any factor. See
    :class:`eligibility.units.Affine` for the fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    from_unit: str
    to_unit: str
    scale: float = Field(gt=0)
    offset: float
    name: str
    source: str
    from_label: str = ""
    to_label: str = ""
    from_decimals: int | None = Field(default=None, ge=0, le=6)
    to_decimals: int | None = Field(default=None, ge=0, le=6)

    def rule(self) -> Affine:
        return Affine(**self.model_dump())


class Plausible(BaseModel):
    """The range a threshold on this analyte can literally mean, in ``unit``; far outside it is a typo.

    Wide on purpose (beyond the extremes ever recorded in living patients, about an order of
    magnitude past the usual thresholds), so that only a threshold an order of magnitude off
    ("creatinine < 2.0 ng/dL", "platelets > 100 x 10^9/mL") is refused. ``usual_units`` are the
    units the analyte is reported in, tried to name the unit a refused threshold probably meant.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    low: float = Field(ge=0)
    high: float = Field(gt=0)
    unit: str
    usual_units: tuple[str, ...] = ()
    source: str


class Concept(BaseModel):
    """One thing a criterion can name: a lab, a condition, a drug or drug class, a procedure."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    display: str
    category: Category
    synonyms: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = Field(default=(), description="Matched case-sensitively.")
    codes: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="system -> codes; ICD-10-CM and ATC codes match descendants."
    )
    except_codes: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="system -> codes (with their descendants) under the listed codes that do NOT belong: "
        "O99.03 'anaemia complicating the puerperium' sits under pregnancy's O99 but is after the birth.",
    )
    members: tuple[str, ...] = Field(default=(), description="A group: satisfied by any member concept.")
    unit: str | None = Field(default=None, description="Canonical unit of a numeric lab.")
    molar_mass: float | None = Field(default=None, description="g/mol, for mass <-> molar conversion.")
    qualitative: bool = Field(default=False, description="A lab read as positive / negative.")
    acute: bool = Field(default=False, description="An event: 'within X' means onset within X.")
    sex: Literal["male", "female"] | None = Field(default=None, description="Only this sex can have it.")
    tests: tuple[str, ...] = Field(
        default=(), description="Qualitative labs whose positive result shows this condition ('HIV positive')."
    )
    tests_current_days: int | None = Field(
        default=None,
        description="When set, a condition criterion also reads the `tests` results of this many days: the "
        "newest result within them says whether the condition is present now (pregnancy status).",
    )
    max_duration_days: int | None = Field(
        default=None,
        description="The condition cannot last longer: an 'active' record with an older onset and no end is "
        "implausible, so it is unknown with a data-quality note, never a confident 'current'.",
    )
    ended_by: tuple[str, ...] = Field(
        default=(), description="Concepts whose record on or after this condition's onset ends it (delivery)."
    )
    extent: Literal["complete", "partial"] = Field(
        default="partial",
        description="'complete' when the codes were reviewed to cover everything the concept's synonyms mean; "
        "only then does 'no record' prove absence (closed world). Partial by default.",
    )
    extent_source: str | None = Field(
        default=None, description="Why the extent is complete: what was reviewed, against which code set."
    )
    head_terms: tuple[str, ...] = Field(
        default=(),
        description="Words an ICD-10-CM description names the concept by: tests check that every such code of "
        "a complete concept is in its codes or in `extent_exclusions`.",
    )
    extent_exclusions: dict[str, str] = Field(
        default_factory=dict, description="ICD-10-CM code (or prefix) -> why it names a head term but is outside."
    )
    ranges: tuple[RefRange, ...] = ()
    conversions: tuple[AffineConversion, ...] = Field(
        default=(), description="Explicit non-factor conversions between units of this analyte (HbA1c)."
    )
    plausible: Plausible | None = Field(
        default=None, description="Thresholds outside this range cannot be meant literally (a unit typo)."
    )
    bare_exclusion: Literal["current", "either"] = Field(
        default="current",
        description="What an exclusion naming the condition with no tense word means. 'either' where clinicians "
        "read it both as present now and as any history ('patients with malignancy': a cancer treated years ago "
        "may or may not exclude), so a patient is decided only when both readings agree.",
    )
    lifelong: bool = Field(
        default=False,
        description="Once present, present for life: a personal-history code of an event within it (I25.2 old "
        "myocardial infarction for coronary artery disease) leaves 'current X' unknown instead of false.",
    )
    lookback_days: int | None = Field(
        default=None,
        gt=0,
        description="A lab whose result only shows the state on the day it was taken (a pregnancy test): a reading "
        "with no window of its own uses this look-back instead of the evaluator's default (parse/lookbacks.py).",
    )
    ongoing_days: int | None = Field(
        default=None,
        gt=0,
        description="A continuing therapy (dialysis, mechanical ventilation): a criterion naming it with no 'prior' or "
        "'history of' means the patient is on it now, read as a record in this many days; an older record "
        "alone is unknown (dialysis for an acute kidney injury years ago does not put a patient on dialysis "
        "now). Open world only: absence in the window never proves the patient is off it.",
    )
    borderline: tuple[str, ...] = Field(
        default=(),
        description="Concepts clinicians may or may not count as this one (myelodysplastic syndrome or carcinoma "
        "in situ as a 'malignancy'). A reading of the concept keeps both senses, without and with them "
        "(``parse/borderline.py``), so a record of a borderline concept alone leaves the criterion unknown. "
        "Each must be a complete concept, or the wider sense could never say 'absent'.",
    )
    route: Literal["any", "systemic", "local"] = Field(
        default="any",
        description="Which medication records count by how the drug was given: 'systemic' leaves out records "
        "whose dosage route is local (a topical hydrocortisone is no systemic corticosteroid), 'local' takes "
        "only those (the borderline of a class some read as systemic only). Records are marked by the FHIR "
        "reader with the concept LOCAL_ROUTE; a record without a stated route counts as systemic.",
    )
    relative_limits: tuple[Literal["ULN", "LLN"], ...] = Field(
        default=("ULN", "LLN"),
        description="The limits results of this analyte are judged against. A clearance or an eGFR has no upper "
        "limit of normal (higher is normal), so '<= 2 x ULN' on one cannot be meant literally: the text names "
        "another analyte (serum creatinine) and is refused, never read as written.",
    )

    @model_validator(mode="after")
    def _complete_has_source(self) -> Concept:
        """A complete extent is a reviewed claim: it must say what was reviewed."""
        if self.extent == "complete" and not self.extent_source:
            raise ValueError("extent 'complete' needs an extent_source")
        if self.ongoing_days is not None and (self.category != "procedure" or self.extent == "complete"):
            raise ValueError("ongoing_days is for open-world procedures: no record in the window is not 'off it'")
        return self

    @property
    def affine(self) -> tuple[Affine, ...]:
        """The conversions in the form ``units.conversion`` takes (hashable, so its cache applies)."""
        return tuple(c.rule() for c in self.conversions)


class HistoryCodes(BaseModel):
    """Codes that record a personal history ("history of X"), not X itself: their date dates the history.

    ICD-10-CM entries are prefixes (Z85 covers Z85.528); SNOMED CT entries are exact codes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    icd10cm: tuple[str, ...] = ()
    snomed: tuple[str, ...] = ()
    remission_icd10cm: tuple[str, ...] = Field(
        default=(),
        description="ICD-10-CM prefixes of a disorder 'in remission' (F32.5, F31.7): it was present, so 'history of "
        "X' holds; whether the patient has X now is not settled (a bipolar disorder in remission is still one).",
    )
    status_icd10cm: tuple[str, ...] = Field(
        default=(),
        description="ICD-10-CM prefixes of a status after a procedure (Z94 transplant status, Z95.1 presence of a "
        "bypass graft): the procedure was done, at some time before the record; its date is not the procedure's, "
        "so it never shows that the procedure was done within a window.",
    )
    source: str


class RxNormProduct(BaseModel):
    """A drug product RxCUI (SCD, SBD, pack...) and the ingredient RxCUIs it contains (RxNorm has_ingredient)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    display: str
    ingredients: tuple[str, ...] = Field(min_length=1)
    source: str


# The concept a medication record carries when its dosage route says the drug was applied locally
# (io/fhir.py and batch/fhir.py set it; Concept.route reads it).
LOCAL_ROUTE = "local_route_medication"

# The allergy concepts a condition record may be read as (io/fhir_values mirrors AllergyIntolerance as them).
ALLERGY_UNCLASSIFIED = "allergy_unclassified"
ALLERGY_KINDS = frozenset(
    {"food_allergy", "food_reaction_unclear", "drug_allergy", "drug_reaction_unclear", ALLERGY_UNCLASSIFIED}
)


@cache
def _allergy_words() -> re.Pattern[str]:
    """``allergy_words`` of ``data/allergen_words.yaml`` as whole words."""
    text = resources.files("eligibility.data").joinpath("allergen_words.yaml").read_text(encoding="utf-8")
    words: list[str] = load_yaml(text)["allergy_words"]
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b")


# Concept files loaded with concepts.yaml into the default vocabulary (same shape; see their headers).
CONCEPT_FILES = ("drugs.yaml", "procedures.yaml", "labs.yaml")

HIERARCHICAL_SYSTEMS = frozenset({"icd10cm", "atc"})
KNOWN_SYSTEMS = frozenset({"loinc", "snomed", "icd10cm", "rxnorm", "atc"})

# Words that make a free-text label unsafe to read as the patient having the concept (negation, uncertainty,
# someone else, a test or prevention): data, ``data/negation_words.yaml``, whose header says why each kind.
NEGATION_WORDS = word_list("negation_words.yaml", "negation")
_WORD = re.compile(r"[a-z0-9]+(?:/[a-z0-9]+)?")


def _norm_code(system: str, code: str) -> str:
    code = code.strip().upper()
    return code.replace(".", "") if system == "icd10cm" else code


def _under_icd10cm(system: str | None, code: str | None, prefixes: tuple[str, ...]) -> bool:
    """Whether an ICD-10-CM code falls under one of the prefixes (Z94 takes in Z94.0)."""
    if system != "icd10cm" or not code:
        return False
    norm = _norm_code(system, code)
    return any(norm.startswith(_norm_code(system, p)) for p in prefixes)


@cache
def retired_icd10cm() -> dict[str, str]:
    """Normalised retired ICD-10-CM code -> its FY2026 successor (``data/icd10cm_retired.yaml``)."""
    text = resources.files("eligibility.data").joinpath("icd10cm_retired.yaml").read_text(encoding="utf-8")
    data = load_yaml(text)
    return {
        _norm_code("icd10cm", str(code)): _norm_code("icd10cm", str(item["successor"]))
        for code, item in data["retired"].items()
    }


@cache
def _local_route() -> re.Pattern[str]:
    """Dose-form words of a drug applied where it acts (``data/local_routes.yaml``)."""
    text = resources.files("eligibility.data").joinpath("local_routes.yaml").read_text(encoding="utf-8")
    words: list[str] = load_yaml(text)["local_routes"]
    alternatives = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


def local_route(text: str) -> bool:
    """Whether a drug's name says it is applied locally (topical, ophthalmic, inhaled ...), not systemic."""
    return _local_route().search(text) is not None


class Vocabulary:
    """All concepts, indexed by id and by code."""

    def __init__(
        self,
        concepts: Iterable[Concept],
        products: Mapping[str, RxNormProduct] | None = None,
        history: HistoryCodes | None = None,
    ):
        self.history = history or HistoryCodes(source="none given")
        self._complete: dict[str, bool] = {}
        self.concepts: dict[str, Concept] = {}
        for concept in concepts:
            if concept.id in self.concepts:
                raise VocabularyError(f"concept '{concept.id}' is defined twice")
            self.concepts[concept.id] = concept
        for concept in self.concepts.values():
            for member in concept.members:
                if member not in self.concepts:
                    raise VocabularyError(f"concept '{concept.id}' has unknown member '{member}'")
            for test in concept.tests:
                if test not in self.concepts or not self.concepts[test].qualitative:
                    raise VocabularyError(f"concept '{concept.id}': test '{test}' is not a qualitative lab")
            for other in concept.ended_by:
                if other not in self.concepts:
                    raise VocabularyError(f"concept '{concept.id}': ended_by '{other}' is not a concept")
            for other in concept.borderline:
                found = self.concepts.get(other)
                if found is None or found.category != concept.category or found.extent != "complete":
                    raise VocabularyError(
                        f"concept '{concept.id}': borderline '{other}' is not a complete {concept.category} concept"
                    )
        self._leaves: dict[str, frozenset[str]] = {}
        self._by_code: dict[tuple[str, str], set[str]] = {}
        self._except: dict[tuple[str, str], set[str]] = {}
        for concept in self.concepts.values():
            for system, codes in concept.except_codes.items():
                if system not in HIERARCHICAL_SYSTEMS:
                    # a code of a flat system has no descendants to except: it would silently do nothing
                    raise VocabularyError(
                        f"concept '{concept.id}': except_codes '{system}' is not a hierarchical code system"
                    )
                for code in codes:
                    self._except.setdefault((system, _norm_code(system, code)), set()).add(concept.id)
        for concept in self.concepts.values():
            for system, codes in concept.codes.items():
                for code in codes:
                    self._by_code.setdefault((system, _norm_code(system, code)), set()).add(concept.id)
        self.products: dict[str, RxNormProduct] = dict(products or {})
        for rxcui in self.products:
            if ("rxnorm", rxcui) in self._by_code:
                raise VocabularyError(f"RxCUI {rxcui} is both a product and a concept code")
        self._by_text: dict[str, frozenset[str]] = {}
        self.derived: dict[str, Concept] = {}
        self._synonym_re: re.Pattern[str] | None = None
        self._synonym_owner: dict[str, frozenset[str]] = {}

    def __getitem__(self, concept_id: str) -> Concept:
        found = self.concepts.get(concept_id)
        return found if found is not None else self.derived[concept_id]

    def __contains__(self, concept_id: object) -> bool:
        return concept_id in self.concepts or concept_id in self.derived

    def derive_condition(self, codes: tuple[str, ...], display: str) -> str:
        """The id of a condition read through ICD-10-CM (``terminology.py``), made on first mention.

        Kept apart from the curated ``concepts`` (which tests review one by one): no synonyms, the codes
        with their descendants; the display names the source. Open world (extent partial) unless the
        terminology earns closed world (``terminology.closed_extent``: the codes hold every code whose
        title names the condition).
        """
        concept_id = "icd10cm:" + "+".join(codes)
        if concept_id not in self.derived:
            from .terminology import closed_extent, default_terminology, naming_descendants, unspecified_counterparts

            terms = default_terminology()
            expanded, pruned = naming_descendants(terms, codes)
            if pruned and display.endswith(", and descendants"):  # it would claim children naming something else
                display = display.removesuffix(", and descendants") + ", and the descendants that name it"
            source = closed_extent(terms, codes, expanded, pruned)
            edge: tuple[str, ...] = ()
            counterparts = unspecified_counterparts(terms, codes, expanded) if source else ()
            if counterparts:
                # "chronic viral hepatitis": an unspecified viral hepatitis (B19) may be it; read both ways
                edge_id = "icd10cm-edge:" + "+".join(counterparts)
                named = ", ".join(f"{c} {terms.title(c)}" for c in counterparts)
                edge_concept = Concept(
                    id=edge_id,
                    display=f"ICD-10-CM {named} (may or may not be it)",
                    category="condition",
                    codes={"icd10cm": counterparts},
                    extent="complete",
                    extent_source=f"defined by its codes: ICD-10-CM {named}",
                )
                self.adopt_derived(edge_concept)
                edge = (edge_id,)
            concept = Concept(id=concept_id, display=display, category="condition", codes={"icd10cm": expanded},
                              extent="complete" if source else "partial", extent_source=source,
                              borderline=edge)  # fmt: skip
            self.adopt_derived(concept)
        return concept_id

    def adopt_derived(self, concept: Concept) -> None:
        """Register a concept :meth:`derive_condition` made, as it made it (the trial cache's way back).

        Deriving again would give the same concept (the terminology is package data, covered by the
        cache's engine hash) but costs seconds: the closed-world test builds a word index of ICD-10-CM.
        A curated concept of that id, or one already derived, is left as it is.
        """
        if concept.id in self.concepts or concept.id in self.derived:
            return
        for system, codes in concept.codes.items():
            for code in codes:
                self._by_code.setdefault((system, _norm_code(system, code)), set()).add(concept.id)
        self.derived[concept.id] = concept

    def leaves(self, concept_id: str) -> tuple[str, ...]:
        """The concept itself and, for a group, every member concept recursively."""
        out: list[str] = [concept_id]
        for member in self[concept_id].members:
            out.extend(m for m in self.leaves(member) if m not in out)
        return tuple(out)

    def leaf_set(self, concept_id: str) -> frozenset[str]:
        """``leaves`` as a set, cached: record matching asks for it on every criterion."""
        found = self._leaves.get(concept_id)
        if found is None:
            found = self._leaves[concept_id] = frozenset(self.leaves(concept_id))
        return found

    def complete(self, concept_id: str) -> bool:
        """Whether absence of a record proves absence: the concept's extent is reviewed as complete and,
        for a group, so is every member's. An id the vocabulary does not know is never complete."""
        found = self._complete.get(concept_id)
        if found is None:
            concept = self.concepts.get(concept_id) or self.derived.get(concept_id)
            found = bool(
                concept is not None and concept.extent == "complete" and all(self.complete(m) for m in concept.members)
            )
            self._complete[concept_id] = found
        return found

    def is_history_code(self, system: str | None, code: str | None) -> bool:
        """Whether a code records a personal history (Z85 "personal history of malignant neoplasm"): it
        shows a past X, not a current one, and its date is when the history was noted, not the diagnosis."""
        if not system or not code:
            return False
        norm = _norm_code(system, code)
        if system == "icd10cm":
            return _under_icd10cm(system, code, self.history.icd10cm)
        if system == "snomed":
            return norm in self.history.snomed
        return False

    def is_status_code(self, system: str | None, code: str | None) -> bool:
        """Whether a code records the status a procedure leaves (``HistoryCodes.status_icd10cm``)."""
        return _under_icd10cm(system, code, self.history.status_icd10cm)

    def is_remission_code(self, system: str | None, code: str | None) -> bool:
        """Whether a code records a disorder in remission (``HistoryCodes.remission_icd10cm``)."""
        return _under_icd10cm(system, code, self.history.remission_icd10cm)

    def concepts_for_code(self, system: str, code: str) -> set[str]:
        """Concepts whose codes equal ``code`` or, in a hierarchical system, are its ancestors.

        ``system`` is a normalised system name (``loinc``, ``snomed``, ``icd10cm``, ``rxnorm``, ``atc``).
        An RxNorm product code also yields the concepts of its ingredients (``rxnorm_products.yaml``).
        """
        norm = _norm_code(system, code)
        if system == "icd10cm":
            norm = retired_icd10cm().get(norm, norm)  # an older chart's code, matched as what holds it now
        found: set[str] = set()
        if system in HIERARCHICAL_SYSTEMS:
            for length in range(len(norm), 0, -1):
                found |= self._by_code.get((system, norm[:length]), set())
            if self._except:
                for length in range(len(norm), 0, -1):
                    found -= self._except.get((system, norm[:length]), set())
        else:
            found |= self._by_code.get((system, norm), set())
        if system == "rxnorm" and norm in self.products:
            for ingredient in self.products[norm].ingredients:
                found |= self._by_code.get(("rxnorm", ingredient), set())
        return found

    def inside(self, concept_id: str, class_id: str) -> bool:
        """Whether every record of a condition read through ICD-10-CM (``derive_condition``) is a record of the
        class: each of its codes lies under the class's codes (or a member's) and no code of the class's
        exceptions lies under it. "Psychiatric disorders such as schizophrenia": F20 is inside F2, so the
        example adds nothing the class does not decide, and the class's closed world holds for it."""
        concept = self.derived.get(concept_id)
        if concept is None or set(concept.codes) != {"icd10cm"} or class_id not in self:
            return False
        leaves = self.leaf_set(class_id)
        for code in concept.codes["icd10cm"]:
            if not self.concepts_for_code("icd10cm", code) & leaves:
                return False
            norm = _norm_code("icd10cm", code)
            if any(k[0] == "icd10cm" and k[1].startswith(norm) and ids & leaves for k, ids in self._except.items()):
                return False
        return True

    def concepts_for_text(self, text: str) -> frozenset[str]:
        """Concepts named in a free-text label by a whole synonym (case-insensitive), conservatively.

        Only synonyms count (abbreviations are too ambiguous in free text). Nothing matches when the
        rest of the text holds a negation, uncertainty, family or prevention word (``NEGATION_WORDS``).
        Cached per distinct text.
        """
        key = " ".join(text.lower().split())
        found = self._by_text.get(key)
        if found is None:
            found = self._by_text[key] = self._match_text(key)
        return found

    def _match_text(self, text: str) -> frozenset[str]:
        out: set[str] = set()
        rest = text
        for m in self._synonym_pattern().finditer(text):
            out |= self._synonym_owner[m.group(0)]
            rest = rest[: m.start()] + " " * (m.end() - m.start()) + rest[m.end() :]
        if not out or any(word in NEGATION_WORDS for word in _WORD.findall(rest)):
            return frozenset()
        return frozenset(out)

    def _synonym_pattern(self) -> re.Pattern[str]:
        if self._synonym_re is None:
            owners: dict[str, set[str]] = {}
            for concept in self.concepts.values():
                for synonym in concept.synonyms:
                    owners.setdefault(" ".join(synonym.lower().split()), set()).add(concept.id)
            self._synonym_owner = {k: frozenset(v) for k, v in owners.items()}
            alternatives = "|".join(re.escape(k) for k in sorted(owners, key=len, reverse=True))
            self._synonym_re = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")
        return self._synonym_re

    def concepts_for_record(
        self, system: str | None, code: str | None, text: str | None
    ) -> tuple[frozenset[str], frozenset[str]]:
        """(concepts by code, concepts by text only) for one coding with its label.

        ``system`` is normalised (or None). The text is read only when the code cannot be: no code,
        no or an unknown system, or an RxNorm code that neither the concepts nor the product table
        know (RxNorm names start with the ingredients, and no product table is ever complete).
        SNOMED, LOINC, ICD-10-CM and ATC codes are authoritative: their text is never read.
        """
        coded: frozenset[str] = frozenset()
        readable = bool(code) and system in KNOWN_SYSTEMS
        if readable:
            assert system is not None and code is not None
            coded = frozenset(self.concepts_for_code(system, code))
        if text and (not readable or (system == "rxnorm" and not coded)):
            named = self.concepts_for_text(text) - coded
            if named and local_route(text):
                # "hydrocortisone topical cream": the name says where the drug acts; a medication concept
                # (systemic exposure, an interaction) is not what it shows. Conditions named in it still are.
                named = frozenset(c for c in named if self[c].category != "medication")
            return coded, named
        if text and system == "snomed":
            # No SNOMED CT hierarchy offline: a display that names an ICD-10-CM title or inclusion term
            # in full ("Celiac disease (disorder)") is that code, for the concepts its codes do not list.
            return coded, self.concepts_for_condition_text(text) - coded
        return coded, frozenset()

    def allergy_kind_unread(self, system: str | None, text: str | None, found: frozenset[str] | set[str]) -> bool:
        """Whether a condition record names an allergy whose kind nothing read: not ICD-10-CM (its codes
        say the kind), an allergy word in its text and no negation word, and none of ``ALLERGY_KINDS``
        among the concepts it was read as (``system`` normalised). Such a record ("Peanut allergy" in SNOMED
        CT, "Allergy to penicillin" as free text) may be a food or a drug allergy: it is read as
        ``allergy_unclassified``. (An AllergyIntolerance mirror carries its kind already: not asked.)"""
        if not text or system == "icd10cm" or found & ALLERGY_KINDS:
            return False
        text = text.lower()
        if not _allergy_words().search(text):
            return False
        return not set(_WORD.findall(text)) & NEGATION_WORDS

    def concepts_for_condition_text(self, text: str) -> frozenset[str]:
        """Concepts whose ICD-10-CM codes hold the code a whole record label names (``terminology``)."""
        if set(_WORD.findall(text.lower())) & NEGATION_WORDS:
            return frozenset()
        from .terminology import default_terminology

        codes = default_terminology().codes_for_text(text)
        return frozenset(c for code in codes for c in self.concepts_for_code("icd10cm", code))

    def reference_range(self, concept_id: str, sex: str | None, age_years: float | None) -> RefRange | None:
        """The vocabulary's default range for this sex and age, or None when none fits.

        A sex-specific range needs a known sex; a sex-less range fits any patient. Age bands need a
        known age unless the concept has a single band covering every age.
        """
        for rng in self.concepts[concept_id].ranges:
            if rng.sex is not None and rng.sex != sex:
                continue
            if age_years is None:
                if rng.age_min == 0 and rng.age_max is None:
                    return rng
                continue
            if age_years >= rng.age_min and (rng.age_max is None or age_years < rng.age_max):
                return rng
        return None


@cache
def default_vocabulary() -> Vocabulary:
    """The vocabulary shipped with the package (read once per process)."""
    data = resources.files("eligibility.data")
    text = data.joinpath("concepts.yaml").read_text(encoding="utf-8")
    products = load_products_text(
        data.joinpath("rxnorm_products.yaml").read_text(encoding="utf-8"), "eligibility/data/rxnorm_products.yaml"
    )
    extra = {name: data.joinpath(name).read_text(encoding="utf-8") for name in CONCEPT_FILES}
    return load_vocabulary_text(text, "eligibility/data/concepts.yaml", products, extra)


def load_products_text(text: str, origin: str) -> dict[str, RxNormProduct]:
    """Parse the RxNorm product table (a top-level ``products:`` mapping RxCUI -> product)."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise VocabularyError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("products"), dict):
        raise VocabularyError(f"{origin}: expected a mapping with a 'products' mapping")
    out: dict[str, RxNormProduct] = {}
    for rxcui, item in data["products"].items():
        if not isinstance(rxcui, str) or not rxcui.isdigit():
            raise VocabularyError(f"{origin}: product key {rxcui!r} is not a quoted RxCUI")
        try:
            out[rxcui] = RxNormProduct.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise VocabularyError(f"{origin}: product {rxcui}: field '{loc}': {first['msg']}") from None
    return out


def _concept_items(text: str, origin: str) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """A document's top-level mapping and its ``concepts:`` items, each with the file it came from."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise VocabularyError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("concepts"), list):
        raise VocabularyError(f"{origin}: expected a mapping with a 'concepts' list")
    return data, [(origin, item) for item in data["concepts"]]


def load_vocabulary_text(
    text: str,
    origin: str,
    products: Mapping[str, RxNormProduct] | None = None,
    extra: Mapping[str, str] | None = None,
) -> Vocabulary:
    """Parse a vocabulary YAML document (a top-level ``concepts:`` list), plus ``extra`` documents of
    the same shape (file name -> text; their concepts join the vocabulary, ``history_codes`` come from
    the main document only)."""
    data, items = _concept_items(text, origin)
    for file_name, other in (extra or {}).items():
        items.extend(_concept_items(other, f"eligibility/data/{file_name}")[1])
    concepts = []
    for index, (where, item) in enumerate(items):
        try:
            concepts.append(Concept.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            name = item.get("id", index) if isinstance(item, dict) else index
            raise VocabularyError(f"{where}: concept {name}: field '{loc}': {first['msg']}") from None
    history: HistoryCodes | None = None
    if data.get("history_codes") is not None:
        try:
            history = HistoryCodes.model_validate(data["history_codes"])
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise VocabularyError(f"{origin}: history_codes: field '{loc}': {first['msg']}") from None
    return Vocabulary(concepts, products, history)
