"""Whether one allergy record shows an allergy (or intolerance) to a given drug or drug class.

The :class:`~eligibility.nodes.Allergy` node ("hypersensitivity to metformin", "allergy to beta blockers") is
read from condition records of a drug-reaction kind: the mirrors of FHIR AllergyIntolerance
(io/fhir_values.allergy_concept: ``drug_allergy``, ``drug_reaction_unclear``, ``allergy_unclassified``, which
keep the substance's system, code and name) and coded or named drug allergies (Z88, "Allergy to penicillin"
read as ``allergy_unclassified``). The judgement of one record depends on the vocabulary only, so the
evaluator and the batch compiler call this same function on the same records and cannot disagree.

Why each outcome:

- the substance is the drug, or a member of the class (its code or its name, as a whole word): the record
  shows it, if its kind says what the criterion asks (an "allergy" needs a record of type allergy; a record
  whose type is intolerance or not given is an unknown for it, and proves an "intolerance");
- the substance is a class that holds the drug among others ("allergy: Penicillins" for amoxicillin): unknown;
- the substance is another drug: no, for an ingredient (a record's code names one ingredient or product) and
  for a class whose member list is reviewed as complete; for another class unknown, the other drug may be
  a member the list lacks;
- the substance is not identified (no code the vocabulary knows, no drug named): unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .concepts import ALLERGY_UNCLASSIFIED, Vocabulary
from .logic import Tri, all_of

#: The mirror concepts of a record that may be a reaction to a drug: those drug_allergy and its borderline
#: read (data/concepts.yaml), so "allergy to X" sees exactly the records "drug allergy" sees.
DRUG_REACTION_KINDS: tuple[str, ...] = ("drug_allergy", "drug_reaction_unclear", ALLERGY_UNCLASSIFIED)
#: The concept whose closed world "no allergy to X" follows (no drug allergy at all is no allergy to X).
CLOSED_BY = "drug_allergy"


@dataclass(frozen=True)
class RecordReading:
    """One record's answer for one Allergy node: its truth (before the record's status and dates) and why."""

    truth: Tri
    why: str


def is_drug_reaction(found: frozenset[str]) -> bool:
    """Whether a record read as the concepts ``found`` may be a reaction to a drug."""
    return any(kind in found for kind in DRUG_REACTION_KINDS)


def _substances(vocab: Vocabulary, record: Any, found: frozenset[str]) -> frozenset[str]:
    """The drug concepts the record names: by its code (``found``) and by its name as whole words. A class
    that is only the class of another named drug (an ATC code read as the ingredient and its class) is
    dropped: the record names the ingredient."""
    named = set(found)
    if record.text:
        named |= vocab.concepts_for_text(str(record.text))
    drugs = {c for c in named if c in vocab and vocab[c].category == "medication"}
    return frozenset(
        c for c in drugs if not (vocab[c].members and any(d != c and d in vocab.leaf_set(c) for d in drugs))
    )


def read_record(
    vocab: Vocabulary,
    record: Any,
    found: frozenset[str],
    drug: str,
    reaction: Literal["allergy", "any"],
) -> RecordReading | None:
    """The record's reading for "allergy (or intolerance) to ``drug``", or None for a record that is no drug
    reaction (``found``: the concepts the evaluator reads the record as, ``Context.concepts_of``)."""
    if not is_drug_reaction(found):
        return None
    wanted = vocab.leaf_set(drug) if drug in vocab else frozenset({drug})
    substances = _substances(vocab, record, found)
    name = vocab[drug].display if drug in vocab else drug
    hit = sorted(c for c in substances if vocab.leaf_set(c) <= wanted)
    overlap = sorted(c for c in substances if c not in hit and vocab.leaf_set(c) & wanted)
    substance: RecordReading
    if hit:
        substance = RecordReading(Tri.TRUE, f"the substance is {vocab[hit[0]].display}")
    elif overlap:
        substance = RecordReading(
            Tri.UNKNOWN, f"the substance is {vocab[overlap[0]].display}, which may or may not be {name}"
        )
    elif substances:
        shown = ", ".join(vocab[c].display for c in sorted(substances))
        closed = drug in vocab and (not vocab[drug].members or vocab.complete(drug))
        if closed:
            substance = RecordReading(Tri.FALSE, f"the substance is {shown}, not {name}")
        else:
            substance = RecordReading(
                Tri.UNKNOWN, f"the substance is {shown}; the members of {name} are not reviewed as complete"
            )
    else:
        substance = RecordReading(Tri.UNKNOWN, "the substance could not be identified (no drug the vocabulary knows)")
    if substance.truth is Tri.FALSE or reaction == "any" or "drug_allergy" in found:
        return substance
    kind = RecordReading(Tri.UNKNOWN, "its type is intolerance or not recorded, not allergy")
    truth = all_of([substance.truth, kind.truth])
    return RecordReading(truth, f"{substance.why}; {kind.why}" if substance.truth is Tri.UNKNOWN else kind.why)
