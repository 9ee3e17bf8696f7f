"""The concept vocabulary: what criteria talk about, and how records are matched to it.

Concepts are data (``data/concepts.yaml``); this module only loads and indexes them. The tokenizer
uses the synonyms to find concept mentions in text, the evaluator uses codes to match patient
records and reference ranges for ULN-relative thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import VocabularyError

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
    members: tuple[str, ...] = Field(default=(), description="A group: satisfied by any member concept.")
    unit: str | None = Field(default=None, description="Canonical unit of a numeric lab.")
    molar_mass: float | None = Field(default=None, description="g/mol, for mass <-> molar conversion.")
    qualitative: bool = Field(default=False, description="A lab read as positive / negative.")
    acute: bool = Field(default=False, description="An event: 'within X' means onset within X.")
    sex: Literal["male", "female"] | None = Field(default=None, description="Only this sex can have it.")
    tests: tuple[str, ...] = Field(
        default=(), description="Qualitative labs whose positive result shows this condition ('HIV positive')."
    )
    ranges: tuple[RefRange, ...] = ()


HIERARCHICAL_SYSTEMS = frozenset({"icd10cm", "atc"})


def _norm_code(system: str, code: str) -> str:
    code = code.strip().upper()
    return code.replace(".", "") if system == "icd10cm" else code


class Vocabulary:
    """All concepts, indexed by id and by code."""

    def __init__(self, concepts: Iterable[Concept]):
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
        self._leaves: dict[str, frozenset[str]] = {}
        self._by_code: dict[tuple[str, str], set[str]] = {}
        for concept in self.concepts.values():
            for system, codes in concept.codes.items():
                for code in codes:
                    self._by_code.setdefault((system, _norm_code(system, code)), set()).add(concept.id)

    def __getitem__(self, concept_id: str) -> Concept:
        return self.concepts[concept_id]

    def __contains__(self, concept_id: object) -> bool:
        return concept_id in self.concepts

    def leaves(self, concept_id: str) -> tuple[str, ...]:
        """The concept itself and, for a group, every member concept recursively."""
        out: list[str] = [concept_id]
        for member in self.concepts[concept_id].members:
            out.extend(m for m in self.leaves(member) if m not in out)
        return tuple(out)

    def leaf_set(self, concept_id: str) -> frozenset[str]:
        """``leaves`` as a set, cached: record matching asks for it on every criterion."""
        found = self._leaves.get(concept_id)
        if found is None:
            found = self._leaves[concept_id] = frozenset(self.leaves(concept_id))
        return found

    def concepts_for_code(self, system: str, code: str) -> set[str]:
        """Concepts whose codes equal ``code`` or, in a hierarchical system, are its ancestors."""
        norm = _norm_code(system, code)
        found: set[str] = set()
        if system in HIERARCHICAL_SYSTEMS:
            for length in range(len(norm), 0, -1):
                found |= self._by_code.get((system, norm[:length]), set())
        else:
            found |= self._by_code.get((system, norm), set())
        return found

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
    text = resources.files("eligibility.data").joinpath("concepts.yaml").read_text(encoding="utf-8")
    return load_vocabulary_text(text, "eligibility/data/concepts.yaml")


def load_vocabulary_text(text: str, origin: str) -> Vocabulary:
    """Parse a vocabulary YAML document (a top-level ``concepts:`` list)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise VocabularyError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("concepts"), list):
        raise VocabularyError(f"{origin}: expected a mapping with a 'concepts' list")
    concepts = []
    for index, item in enumerate(data["concepts"]):
        try:
            concepts.append(Concept.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            name = item.get("id", index) if isinstance(item, dict) else index
            raise VocabularyError(f"{origin}: concept {name}: field '{loc}': {first['msg']}") from None
    return Vocabulary(concepts)
