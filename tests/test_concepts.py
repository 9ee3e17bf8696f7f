"""The shipped concept vocabulary (eligibility/data/concepts.yaml): shape, hygiene and lookups."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest

from eligibility.concepts import RefRange, Vocabulary, default_vocabulary, load_vocabulary_text
from eligibility.errors import VocabularyError

SYSTEMS = {"loinc", "icd10cm", "snomed", "rxnorm", "atc"}
UNITS = {
    "10^9/L", "g/dL", "g/L", "mg/dL", "U/L", "%", "mmHg", "kg/m²", "mL/min/1.73m²", "mL/min", "ms",
    "mmol/L", "µmol/L", "ng/mL", "pg/mL", "s", "kg", "cm", "/min", "mIU/L", "°C",
}  # fmt: skip

# Every concept the two seed trials (NCT06352281, NCT06168851) need.
SEED_CONCEPTS = {
    "NCT06352281": [
        "itp", "thrombocytopenia", "secondary_itp", "platelets", "corticosteroids", "splenectomy",
        "hemostatic_disorder", "platelet_function_drugs", "antiplatelet_drugs", "aspirin", "clopidogrel",
        "nsaids", "anticoagulants", "pseudothrombocytopenia", "malignancy", "cytotoxic_chemotherapy",
        "radiotherapy", "heart_failure", "nyha_class", "myocardial_infarction", "cardiac_angioplasty",
        "unstable_angina", "heart_disease", "thrombosis", "thrombophilia", "gi_bleeding_risk",
        "acute_infection", "fungal_infection", "respiratory_disease", "hepatic_impairment",
        "transaminases", "alt", "ast", "creatinine", "hiv_test", "hiv_infection", "hbsag", "anti_hbc",
        "hbv_dna", "hepatitis_b", "hepatitis_c", "hcv_rna", "allergy", "pregnancy", "lactation",
        "mental_illness", "alcohol_addiction", "drug_addiction",
    ],
    "NCT06168851": [
        "itp", "platelets", "corticosteroids", "rituximab", "anti_cd20", "tpo_receptor_agonists",
        "methylprednisolone", "platelet_transfusion", "ivig", "liver_function", "renal_function", "ecog",
        "nyha_class", "prednisone", "azathioprine", "danazol", "cyclosporine", "tacrolimus", "sirolimus",
        "splenectomy", "allergy", "daratumumab", "anti_cd38",
    ],
    "pregnancy (issue 5)": ["pregnancy_status", "pregnancy_test", "pregnancy_outcome"],
}  # fmt: skip


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return default_vocabulary()


def test_loads_with_many_concepts(vocab: Vocabulary) -> None:
    assert len(vocab.concepts) > 100
    assert vocab is default_vocabulary()  # cached


def test_ids_are_lower_snake_case(vocab: Vocabulary) -> None:
    bad = [cid for cid in vocab.concepts if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", cid)]
    assert bad == []


def test_code_systems_are_known(vocab: Vocabulary) -> None:
    bad = {(c.id, s) for c in vocab.concepts.values() for s in c.codes if s not in SYSTEMS}
    assert bad == set()


def test_codes_are_nonempty_strings_without_duplicates(vocab: Vocabulary) -> None:
    for concept in vocab.concepts.values():
        for system, codes in concept.codes.items():
            assert codes, f"{concept.id}: empty {system} list"
            assert all(code.strip() == code and code for code in codes), concept.id
            assert len(set(codes)) == len(codes), f"{concept.id}: duplicate {system} code"


def test_no_term_in_two_concepts(vocab: Vocabulary) -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for concept in vocab.concepts.values():
        for term in (*concept.synonyms, *concept.abbreviations):
            owners[term.lower()].add(concept.id)
    shared = {term: ids for term, ids in owners.items() if len(ids) > 1}
    assert shared == {}


def test_terms_are_clean(vocab: Vocabulary) -> None:
    for concept in vocab.concepts.values():
        for term in (*concept.synonyms, *concept.abbreviations):
            assert term == term.strip() and "  " not in term, (concept.id, term)
        for abbr in concept.abbreviations:
            assert len(abbr) >= 2, (concept.id, abbr)


def test_every_concept_can_be_found(vocab: Vocabulary) -> None:
    """A concept without codes must at least be reachable from text (or be a group, or be what the FHIR
    reader mirrors an AllergyIntolerance as)."""
    from eligibility.concepts import LOCAL_ROUTE
    from eligibility.io.fhir_values import ALLERGY_CATEGORY_CONCEPTS, ALLERGY_UNCLASSIFIED

    mirrored = {ALLERGY_UNCLASSIFIED, LOCAL_ROUTE, *(c for pair in ALLERGY_CATEGORY_CONCEPTS.values() for c in pair)}
    assert mirrored <= set(vocab.concepts)
    unreachable = [
        c.id
        for c in vocab.concepts.values()
        if not (c.synonyms or c.abbreviations or c.codes or c.members) and c.id not in mirrored
    ]
    assert unreachable == []


def test_hiv_split_between_condition_and_test(vocab: Vocabulary) -> None:
    assert "HIV" in vocab["hiv_infection"].abbreviations
    assert "human immunodeficiency virus" in vocab["hiv_infection"].synonyms
    assert "HIV seropositivity" in vocab["hiv_test"].synonyms
    assert vocab["hiv_test"].qualitative


@pytest.mark.parametrize(
    ("group", "member"),
    [
        ("nsaids", "ibuprofen"),
        ("nsaids", "naproxen"),
        ("platelet_function_drugs", "aspirin"),
        ("platelet_function_drugs", "clopidogrel"),
        ("platelet_function_drugs", "ibuprofen"),
        ("anticoagulants", "warfarin"),
        ("anticoagulants", "enoxaparin"),
        ("anticoagulants", "apixaban"),
        ("corticosteroids", "prednisone"),
        ("tpo_receptor_agonists", "eltrombopag"),
        ("anti_cd20", "rituximab"),
        ("anti_cd38", "daratumumab"),
        ("transaminases", "alt"),
        ("transaminases", "ast"),
        ("thrombocytopenia", "itp"),
        ("heart_disease", "myocardial_infarction"),
    ],
)
def test_leaves_expand_groups(vocab: Vocabulary, group: str, member: str) -> None:
    assert member in vocab.leaves(group)


def test_separate_groups_stay_separate(vocab: Vocabulary) -> None:
    assert "ibuprofen" not in vocab.leaves("antiplatelet_drugs")
    assert "aspirin" not in vocab.leaves("nsaids")
    assert "hemostatic_disorder" not in vocab.leaves("thrombocytopenia")


def test_group_members_share_category(vocab: Vocabulary) -> None:
    for concept in vocab.concepts.values():
        for member in concept.members:
            assert vocab[member].category == concept.category, (concept.id, member)


@pytest.mark.parametrize(
    ("system", "code", "expected"),
    [
        ("icd10cm", "B18.1", {"hepatitis_b", "liver_disease"}),
        ("icd10cm", "B181", {"hepatitis_b", "liver_disease"}),
        ("icd10cm", "O09.90", {"pregnancy"}),
        ("icd10cm", "D69.3", {"itp", "thrombocytopenia_or_purpura"}),  # the borderline of a bleeding disorder
        ("icd10cm", "Z90.81", {"splenectomy"}),
        ("icd10cm", "I50.22", {"heart_failure", "heart_disease"}),
        (
            "icd10cm",
            "I21.4",
            {"myocardial_infarction", "heart_disease", "coronary_artery_disease", "ischemic_heart_disease"},
        ),
        ("icd10cm", "I21.A1", {"myocardial_infarction", "heart_disease", "ischemic_heart_disease"}),  # type 2: not CAD
        # a coronary stent: revascularised coronary disease
        ("icd10cm", "Z95.5", {"ischemic_heart_disease", "coronary_artery_disease", "cardiac_angioplasty"}),
        ("icd10cm", "Z85.3", {"malignancy"}),
        ("icd10cm", "D68.51", {"thrombophilia"}),  # borderline of hemostatic_disorder, not a member
        ("icd10cm", "Z86.718", {"venous_thromboembolism"}),  # "other venous": not proof of a DVT
        ("icd10cm", "F10.20", {"alcohol_addiction", "alcohol_dependence"}),
        ("icd10cm", "F10.10", {"alcohol_addiction"}),  # abuse is not dependence
        ("icd10cm", "F12.20", {"drug_addiction", "drug_dependence"}),
        ("icd10cm", "F12.90", {"drug_use_unspecified"}),  # cannabis use, unspecified: not abuse, not dependence
        ("icd10cm", "F10.920", {"alcohol_use_unspecified"}),  # one intoxication is not a use disorder
        ("icd10cm", "F12.10", {"drug_addiction"}),  # abuse
        ("atc", "M01AE01", {"nsaids", "ibuprofen"}),
        ("atc", "M01AX05", set()),  # glucosamine: M01AX is not all NSAIDs
        ("atc", "B01AC06", {"aspirin", "antiplatelet_drugs"}),
        ("atc", "B01AF02", {"apixaban", "anticoagulants", "doacs"}),
        ("atc", "H02AB07", {"prednisone", "corticosteroids"}),
        ("atc", "L01XC02", {"rituximab"}),
        ("rxnorm", "243670", {"aspirin"}),
        ("rxnorm", "855332", {"warfarin"}),
        ("loinc", "777-3", {"platelets"}),
        ("loinc", "38483-4", {"creatinine"}),
        ("loinc", "11259-9", {"hcv_rna"}),
        ("snomed", "88805009", {"heart_failure"}),
        ("snomed", "72892002", {"pregnancy"}),
        ("snomed", "19169002", {"pregnancy_outcome"}),  # miscarriage ends a pregnancy, it is not one
    ],
)
def test_concepts_for_code(vocab: Vocabulary, system: str, code: str, expected: set[str]) -> None:
    # the curated concepts only: conditions derived from ICD-10-CM for criteria read earlier in the same process
    # (the shared default vocabulary) also hold codes, and are not what this table is about
    assert vocab.concepts_for_code(system, code) & vocab.concepts.keys() == expected


def test_non_hierarchical_systems_match_exactly(vocab: Vocabulary) -> None:
    assert vocab.concepts_for_code("loinc", "777") == set()
    assert vocab.concepts_for_code("rxnorm", "11") == set()


@pytest.mark.parametrize(
    ("sex", "age", "high"),
    [
        ("male", 10, 0.86),
        ("female", 10, 0.86),
        (None, 10, 0.86),
        ("male", 0.5, 0.42),
        ("male", 16, 1.10),
        ("female", 16, 1.04),
        ("male", 40, 1.22),
        ("female", 40, 1.06),
        ("male", 18, 1.22),
        ("female", 80, 1.06),
    ],
)
def test_creatinine_uln_by_age_and_sex(vocab: Vocabulary, sex: str | None, age: float, high: float) -> None:
    rng = vocab.reference_range("creatinine", sex, age)
    assert rng is not None
    assert rng.high == high
    assert rng.unit == "mg/dL"


@pytest.mark.parametrize(("concept", "age"), [("creatinine", 40), ("creatinine", 16), ("alt", 40)])
def test_sex_specific_range_needs_sex(vocab: Vocabulary, concept: str, age: float) -> None:
    assert vocab.reference_range(concept, None, age) is None


def test_sexless_all_age_range_needs_no_age(vocab: Vocabulary) -> None:
    rng = vocab.reference_range("platelets", None, None)
    assert rng is not None and (rng.low, rng.high) == (150, 450)
    assert vocab.reference_range("creatinine", "male", None) is None


@pytest.mark.parametrize(
    ("concept", "sex", "age", "high"),
    [
        ("alt", "male", 40, 41),
        ("alt", "female", 40, 33),
        ("ast", None, 10, 40),
        ("ast", "female", 70, 40),
        ("total_bilirubin", None, 10, 1.0),
        ("total_bilirubin", None, 30, 1.2),
        ("hemoglobin", "female", 30, 15.5),
    ],
)
def test_other_ulns(vocab: Vocabulary, concept: str, sex: str | None, age: float, high: float) -> None:
    rng = vocab.reference_range(concept, sex, age)
    assert rng is not None and rng.high == high


def test_numeric_labs_have_known_units(vocab: Vocabulary) -> None:
    for concept in vocab.concepts.values():
        if concept.unit is not None:
            assert concept.category == "lab", concept.id
            assert concept.unit in UNITS, (concept.id, concept.unit)
        if concept.qualitative:
            assert concept.unit is None and not concept.ranges, concept.id
    assert vocab["inr"].unit is None
    assert vocab["ecog"].unit is None


def test_range_units_match_concept_unit(vocab: Vocabulary) -> None:
    for concept in vocab.concepts.values():
        for rng in concept.ranges:
            assert concept.category == "lab", concept.id
            assert rng.unit == concept.unit, concept.id
            assert rng.source.strip(), concept.id
            if rng.low is not None and rng.high is not None:
                assert rng.low <= rng.high, concept.id


def _bands_for(ranges: tuple[RefRange, ...], sex: str) -> list[RefRange]:
    return sorted((r for r in ranges if r.sex in (None, sex)), key=lambda r: r.age_min)


@pytest.mark.parametrize("sex", ["male", "female"])
def test_range_bands_have_no_gaps_or_overlaps(vocab: Vocabulary, sex: str) -> None:
    """Per sex, bands run contiguously from the first age_min to an open upper end."""
    for concept in vocab.concepts.values():
        bands = _bands_for(concept.ranges, sex)
        if not bands:
            continue
        for before, after in pairwise(bands):
            assert before.age_max == after.age_min, (concept.id, sex, before, after)
        assert bands[-1].age_max is None, (concept.id, sex)
        assert all(b.age_max is None or b.age_min < b.age_max for b in bands), concept.id


@pytest.mark.parametrize("sex", ["male", "female"])
def test_creatinine_bands_cover_every_age(vocab: Vocabulary, sex: str) -> None:
    bands = _bands_for(vocab["creatinine"].ranges, sex)
    assert bands[0].age_min == 0
    assert bands[-1].age_max is None


def test_sex_limited_conditions(vocab: Vocabulary) -> None:
    assert vocab["pregnancy"].sex == "female"
    assert vocab["lactation"].sex == "female"


def test_acute_events(vocab: Vocabulary) -> None:
    assert vocab["myocardial_infarction"].acute
    assert vocab["unstable_angina"].acute
    assert not vocab["heart_failure"].acute


@pytest.mark.parametrize("trial", sorted(SEED_CONCEPTS))
def test_seed_trial_concepts_exist(vocab: Vocabulary, trial: str) -> None:
    missing = [cid for cid in SEED_CONCEPTS[trial] if cid not in vocab]
    assert missing == []


@pytest.mark.parametrize(
    ("phrase", "concept"),
    [
        ("platelet count", "platelets"),
        ("serum transaminase", "transaminases"),
        ("serum creatinine", "creatinine"),
        ("drugs that affect platelet function", "platelet_function_drugs"),
        ("anti-coagulants", "anticoagulants"),
        ("malignant disease", "malignancy"),
        ("cytotoxic chemotherapy", "cytotoxic_chemotherapy"),
        ("radiotherapy", "radiotherapy"),
        ("unstable angina pectoris", "unstable_angina"),
        ("cardiac angioplasty", "cardiac_angioplasty"),
        ("stenting", "cardiac_angioplasty"),
        ("hepatitis B surface antigen", "hbsag"),
        ("hepatitis B core antibody", "anti_hbc"),
        ("HBV-DNA", "hbv_dna"),
        ("HCV-RNA", "hcv_rna"),
        ("allergic constitution", "allergy"),
        ("lactation", "lactation"),
        ("mental illness", "mental_illness"),
        ("secondary immune thrombocytopenia", "secondary_itp"),
        ("hemostatic disorders", "hemostatic_disorder"),
        ("TPO receptor agonists", "tpo_receptor_agonists"),
        ("IVIG transfusion", "ivig"),
        ("cyclosporin A", "cyclosporine"),
        ("platelet transfusion", "platelet_transfusion"),
        ("hepatic function", "liver_function"),
    ],
)
def test_seed_phrases_are_synonyms(vocab: Vocabulary, phrase: str, concept: str) -> None:
    assert phrase.lower() in {s.lower() for s in vocab[concept].synonyms}


@pytest.mark.parametrize(
    ("abbr", "concept"),
    [("ITP", "itp"), ("NSAIDs", "nsaids"), ("TPORAs", "tpo_receptor_agonists"), ("ECOG", "ecog"),
     ("ALT", "alt"), ("SGPT", "alt"), ("AST", "ast"), ("PLT", "platelets"), ("HBsAg", "hbsag")],
)  # fmt: skip
def test_seed_abbreviations(vocab: Vocabulary, abbr: str, concept: str) -> None:
    assert abbr in vocab[concept].abbreviations


# ---- RxNorm products -> ingredients (data/rxnorm_products.yaml) -------------------------------------


@pytest.mark.parametrize(
    ("rxcui", "concept"),
    [
        ("243670", "aspirin"),
        ("309362", "clopidogrel"),
        ("855332", "warfarin"),
        ("849574", "naproxen"),
        ("198014", "naproxen"),
        ("310965", "ibuprofen"),
        ("312617", "prednisone"),
        ("314659", "heparin"),
        ("105586", "methotrexate"),
        ("1664463", "tacrolimus"),
        ("1736854", "cisplatin"),
    ],
)
def test_product_rxcui_matches_its_ingredient(vocab: Vocabulary, rxcui: str, concept: str) -> None:
    assert concept in vocab.concepts_for_code("rxnorm", rxcui)
    assert vocab.concepts_for_code("rxnorm", rxcui) == vocab.concepts_for_code(
        "rxnorm", vocab.products[rxcui].ingredients[0]
    )


def test_product_codes_live_only_in_the_product_table(vocab: Vocabulary) -> None:
    ingredient_codes = {code for c in vocab.concepts.values() for code in c.codes.get("rxnorm", ())}
    assert not set(vocab.products) & ingredient_codes
    for rxcui, product in vocab.products.items():
        for ingredient in product.ingredients:
            assert vocab.concepts_for_code("rxnorm", ingredient), (rxcui, ingredient)


def test_budesonide_inhalation_is_not_a_systemic_corticosteroid(vocab: Vocabulary) -> None:
    assert vocab.concepts_for_code("rxnorm", "351109") == set()
    coded, by_text = vocab.concepts_for_record("rxnorm", "351109", "budesonide 0.25 MG/ML Inhalation Suspension")
    assert coded == by_text == frozenset()


def _synthea_rxnorm(shared: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    files = [*(shared / "fhir" / "synthea").glob("*.json")]
    for path in files:
        for entry in json.loads(path.read_text(encoding="utf-8")).get("entry", []):
            concept = entry["resource"].get("medicationCodeableConcept") or {}
            for coding in concept.get("coding", []):
                if coding.get("system") == "http://www.nlm.nih.gov/research/umls/rxnorm":
                    found[coding["code"]] = coding.get("display", "")
    for path in (shared / "fhir" / "bulk-ndjson").rglob("MedicationRequest*.ndjson"):
        for line in path.read_text(encoding="utf-8").splitlines():
            for coding in (json.loads(line).get("medicationCodeableConcept") or {}).get("coding", []):
                found[coding["code"]] = coding.get("display", "")
    return found


def test_every_synthea_product_of_a_vocabulary_drug_is_mapped(vocab: Vocabulary, shared_data: Path) -> None:
    """A Synthea RxNorm code whose name contains a drug synonym must resolve by code, not only by text.

    Only drugs whose ingredient RxCUI the vocabulary knows can be mapped: an ingredient listed without a
    confirmed RxCUI (drugs.yaml) matches by name by design."""
    codes = _synthea_rxnorm(shared_data)
    assert len(codes) > 50
    unmapped = {}
    for rxcui, display in codes.items():
        named = {
            c
            for c in vocab.concepts_for_text(display)
            if vocab[c].category == "medication" and (vocab[c].codes.get("rxnorm") or vocab[c].members)
        }
        if named and not named <= vocab.concepts_for_code("rxnorm", rxcui):
            unmapped[rxcui] = (display, named)
    assert unmapped == {}


# ---- records: code first, text only when the code cannot be read ---------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Aspirin 81 MG Oral Tablet", {"aspirin"}),
        ("ASPIRIN", {"aspirin"}),
        ("Normal pregnancy", {"pregnancy"}),
        ("History of myocardial infarction", {"myocardial_infarction"}),
        ("Non-small cell lung cancer", {"malignancy"}),
        ("HIV screen", {"hiv_test"}),
        ("Aspirin / Dipyridamole", {"aspirin", "dipyridamole"}),
        ("history of no aspirin", set()),
        ("no pregnancy", set()),
        ("Pregnancy test negative", set()),
        ("Suspected lung cancer", set()),
        ("Family history of myocardial infarction", set()),
        ("Screening for HIV infection", set()),
        ("aspirin - discontinued", set()),
        ("aspirinate", set()),  # whole words only
        ("Hypertension", {"hypertension"}),
        ("Familial hypercholesterolaemia", set()),
    ],
)
def test_concepts_for_text(vocab: Vocabulary, text: str, expected: set[str]) -> None:
    assert vocab.concepts_for_text(text) == expected


def test_abbreviations_do_not_match_free_text(vocab: Vocabulary) -> None:
    assert vocab.concepts_for_text("MI") == frozenset()
    assert vocab.concepts_for_text("PT session") == frozenset()


@pytest.mark.parametrize(
    ("system", "code", "text", "coded", "by_text"),
    [
        ("rxnorm", "243670", "Aspirin 81 MG Oral Tablet", {"aspirin"}, set()),
        (None, None, "Aspirin 81 MG Oral Tablet", set(), {"aspirin"}),
        ("read", "X123", "Aspirin 75mg tablets", set(), {"aspirin"}),
        (None, "X123", "aspirin", set(), {"aspirin"}),
        ("rxnorm", "198467", "Aspirin 325 MG Oral Tablet", set(), {"aspirin"}),  # a product not in the table
        # a name that says the drug acts where applied is not systemic exposure (data/local_routes.yaml)
        ("rxnorm", "106258", "hydrocortisone 10 MG/ML Topical Cream", set(), set()),
        (None, None, "prednisolone acetate 1% eye drops", set(), set()),
        (None, None, "ketoconazole 2% shampoo", set(), set()),
        (None, None, "prednisolone 5 mg tablets", set(), {"prednisolone"}),
        (None, None, "fentanyl 25 mcg/h transdermal patch", set(), {"fentanyl"}),  # a patch acts systemically
        ("snomed", "162573006", "Suspected lung cancer", set(), set()),
        ("snomed", "999999", "Myocardial infarction of anterior wall", set(), set()),  # SNOMED text is not read
        (
            "icd10cm",
            "I21.4",
            "whatever",
            {"myocardial_infarction", "heart_disease", "coronary_artery_disease", "ischemic_heart_disease"},
            set(),
        ),
    ],
)
def test_concepts_for_record(
    vocab: Vocabulary, system: str | None, code: str | None, text: str, coded: set[str], by_text: set[str]
) -> None:
    assert vocab.concepts_for_record(system, code, text) == (coded, by_text)


def test_icd10cm_descendants_match_by_prefix() -> None:
    v = load_vocabulary_text(
        "concepts:\n  - {id: chronic_hepatitis, display: x, category: condition, codes: {icd10cm: ['B18']}}\n", "t"
    )
    assert v.concepts_for_code("icd10cm", "B18.1") == {"chronic_hepatitis"}
    assert v.concepts_for_code("icd10cm", "B181") == {"chronic_hepatitis"}
    assert v.concepts_for_code("icd10cm", "b18.2") == {"chronic_hepatitis"}
    assert v.concepts_for_code("icd10cm", "B19.10") == set()
    assert v.concepts_for_code("icd10cm", "B1") == set()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("O09.90", {"pregnancy"}),
        ("O26.851", {"pregnancy"}),
        ("Z33.1", {"pregnancy"}),
        ("O60.03", {"pregnancy"}),  # preterm labour without delivery
        ("O60.14X0", {"pregnancy_outcome"}),  # preterm labour with preterm delivery
        ("O80", {"pregnancy_outcome"}),
        ("O03.9", {"pregnancy_outcome"}),
        ("Z37.0", {"pregnancy_outcome"}),
        ("Z39.1", {"lactation"}),
        ("O92.3", {"pregnancy_outcome"}),  # agalactia: not lactating
    ],
)
def test_pregnancy_codes_say_what_is_true_now(vocab: Vocabulary, code: str, expected: set[str]) -> None:
    assert vocab.concepts_for_code("icd10cm", code) == expected


def test_pregnancy_status_observation_shows_pregnancy(vocab: Vocabulary) -> None:
    assert vocab.concepts_for_code("loinc", "82810-3") == {"pregnancy_status"}
    assert "pregnancy_status" in vocab["pregnancy"].tests
    assert vocab["pregnancy"].tests_current_days and vocab["pregnancy"].max_duration_days
    assert vocab["pregnancy"].ended_by == ("pregnancy_outcome",)


@pytest.mark.parametrize(
    ("system", "code", "concept"),
    [
        ("loinc", "76625-3", "alt"),
        ("loinc", "1743-4", "alt"),
        ("loinc", "30239-8", "ast"),
        ("loinc", "42719-5", "total_bilirubin"),
        ("loinc", "2160-0", "creatinine"),
        ("loinc", "718-7", "hemoglobin"),
        ("loinc", "26515-7", "platelets"),
        ("loinc", "98979-8", "egfr"),
        ("loinc", "69405-9", "egfr"),
        ("snomed", "57054005", "myocardial_infarction"),
        ("snomed", "840539006", "acute_infection"),
        ("rxnorm", "56946", "paclitaxel"),
        ("atc", "L01XA01", "cytotoxic_chemotherapy"),
    ],
)
def test_screening_codes(vocab: Vocabulary, system: str, code: str, concept: str) -> None:
    assert concept in vocab.concepts_for_code(system, code)


def test_every_icd10cm_code_exists_in_the_fy2026_code_set(vocab: Vocabulary) -> None:
    """Each listed ICD-10-CM code is a real code, or a prefix with real codes under it ('O', 'F2')."""
    icd = pytest.importorskip("simple_icd_10_cm")
    real = [c for c in icd.get_all_codes(False) if c[0].isalpha() and "-" not in c]
    bad = []
    for concept in vocab.concepts.values():
        for code in concept.codes.get("icd10cm", ()):
            norm = code.replace(".", "")
            if not icd.is_valid_item(code) and not any(r.startswith(norm) for r in real):
                bad.append((concept.id, code))
    assert bad == []


@pytest.mark.parametrize(
    ("sex", "age", "high"), [("male", 13, 30), ("female", 17, 25), ("male", 18, 41), ("female", 18, 33)]
)
def test_alt_adolescent_and_adult_bands(vocab: Vocabulary, sex: str, age: float, high: float) -> None:
    rng = vocab.reference_range("alt", sex, age)
    assert rng is not None and rng.high == high


def test_alt_has_no_range_for_young_children(vocab: Vocabulary) -> None:
    assert vocab.reference_range("alt", "male", 11) is None  # no source in clinical-facts.md: unknown, not guessed


def _icd_leaves_naming(icd: object, terms: tuple[str, ...]) -> list[str]:
    pattern = re.compile("|".join(rf"\b{re.escape(t.lower())}\b" for t in terms))
    codes = [c for c in icd.get_all_codes(False) if c[0].isalpha() and "-" not in c and icd.is_leaf(c)]  # type: ignore[attr-defined]
    return [c for c in codes if pattern.search(icd.get_description(c).lower())]  # type: ignore[attr-defined]


def test_complete_extents_cover_every_icd10cm_code_naming_a_head_term(vocab: Vocabulary) -> None:
    """A concept reviewed as complete: every ICD-10-CM code whose description names one of its head
    terms is in its code set, or is a listed, reasoned exclusion (closed world is earned, not assumed)."""
    icd = pytest.importorskip("simple_icd_10_cm")
    missing: list[tuple[str, str]] = []
    for concept in vocab.concepts.values():
        if concept.extent != "complete" or "icd10cm" not in concept.codes:
            continue
        if concept.category != "condition" and not concept.head_terms:
            continue  # a drug's or procedure's ICD-10-CM codes are status codes (Z79.82), not its extent
        assert concept.head_terms, f"{concept.id}: a complete ICD-10-CM extent needs head terms to check"
        for code in _icd_leaves_naming(icd, concept.head_terms):
            if vocab.concepts_for_code("icd10cm", code) & vocab.leaf_set(concept.id):
                continue
            if any(code.startswith(ex.replace(".", "")) for ex in concept.extent_exclusions):
                continue
            missing.append((concept.id, code))
    assert missing == []


def test_extent_exclusions_are_real_codes_with_reasons(vocab: Vocabulary) -> None:
    icd = pytest.importorskip("simple_icd_10_cm")
    for concept in vocab.concepts.values():
        for code, reason in concept.extent_exclusions.items():
            assert icd.is_valid_item(code), (concept.id, code)
            assert reason.strip(), (concept.id, code)


def test_complete_needs_a_source() -> None:
    with pytest.raises(VocabularyError, match="extent_source"):
        load_vocabulary_text("concepts:\n  - {id: x, display: X, category: condition, extent: complete}\n", "t")


@pytest.mark.parametrize(
    ("extents", "expected"),
    [
        (("complete", "complete", "complete"), True),
        (("complete", "complete", "partial"), False),  # one member not reviewed: the group is not complete
        (("partial", "complete", "complete"), False),  # members complete, but the group's own meaning is wider
    ],
)
def test_group_is_complete_only_when_all_members_are(extents: tuple[str, str, str], expected: bool) -> None:
    rows = []
    for cid, extent, members in zip(("g", "a", "b"), extents, ("[a, b]", "[]", "[]"), strict=True):
        source = ", extent_source: reviewed" if extent == "complete" else ""
        head = f"  - {{id: {cid}, display: {cid}, category: condition, members: {members}"
        rows.append(f"{head}, extent: {extent}{source}}}")
    vocab = load_vocabulary_text("concepts:\n" + "\n".join(rows) + "\n", "t")
    assert vocab.complete("g") is expected
    assert not vocab.complete("unknown_id")


@pytest.mark.parametrize(
    ("system", "code", "history"),
    [
        ("icd10cm", "Z85.528", True),
        ("icd10cm", "Z85528", True),
        ("icd10cm", "Z86.718", True),
        ("icd10cm", "I25.2", True),
        ("icd10cm", "I21.4", False),
        ("icd10cm", "C64.1", False),
        ("snomed", "399211009", True),
        ("snomed", "22298006", False),
        ("loinc", "Z85", False),
    ],
)
def test_history_codes(vocab: Vocabulary, system: str, code: str, history: bool) -> None:
    assert vocab.is_history_code(system, code) is history


@pytest.mark.parametrize(
    ("code", "concept"),
    [
        ("B18.1", "liver_disease"),  # chronic viral hepatitis is a liver disease
        ("C22.0", "liver_disease"),
        ("E83.01", "liver_disease"),  # Wilson disease
        ("E83.110", "liver_disease"),  # haemochromatosis
        ("Z94.4", "liver_disease"),
        ("K72.10", "liver_disease"),
        ("K76.0", "liver_disease"),  # fatty liver: a liver disease, but no hepatic impairment (below)
        ("N04.0", "renal_disease"),  # glomerular
        ("E11.22", "renal_disease"),  # diabetic CKD
        ("I12.9", "renal_disease"),  # hypertensive CKD
        ("Z99.2", "renal_disease"),  # dialysis
        ("Z94.0", "renal_disease"),
        ("F10.20", "substance_use_disorder"),  # alcohol is a substance
        ("F11.20", "substance_use_disorder"),
    ],
)
def test_broad_terms_have_broad_extents(vocab: Vocabulary, code: str, concept: str) -> None:
    assert vocab.concepts_for_code("icd10cm", code) & vocab.leaf_set(concept)  # itself or a member
    # substance use is a union of two reviewed extents (drugs, alcohol) with its edge (nicotine) read both ways;
    # liver and kidney disease have no review that covers all they can mean
    assert vocab.complete(concept) is (concept == "substance_use_disorder")


@pytest.mark.parametrize("code", ["N13.5", "N13.70", "N28.1", "N28.82"])
def test_a_ureter_code_or_incidental_kidney_finding_is_no_kidney_disease(vocab: Vocabulary, code: str) -> None:
    """Ureteral stricture, reflux, megaloureter or an acquired cyst do not prove 'kidney disease' (audit seed 17);
    hydronephrosis (N13.0) still does."""
    assert not vocab.concepts_for_code("icd10cm", code) & vocab.leaf_set("renal_disease")
    assert vocab.concepts_for_code("icd10cm", "N13.0") & vocab.leaf_set("renal_disease")


@pytest.mark.parametrize(
    ("code", "impairment"),
    [("K72.10", True), ("K70.40", True), ("K76.7", True), ("K76.0", False), ("K76.89", False), ("K74.60", False)],
)
def test_hepatic_impairment_is_loss_of_function_not_any_liver_disease(code: str, impairment: bool) -> None:
    """A fatty liver or a liver cyst must never exclude a patient from a trial that excludes hepatic impairment."""
    vocab = default_vocabulary()
    assert ("hepatic_impairment" in vocab.concepts_for_code("icd10cm", code)) is impairment


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("Known arterial hypertension", "hypertension"),
        ("Type II diabetes mellitus", "type2_diabetes"),
        ("Diabetes mellitus type 1", "type1_diabetes"),
        ("Cerebrovascular accident in the last 3 months", "stroke"),
        ("History of dementia", "dementia"),
    ],
)
def test_common_conditions_read_as_their_curated_concept(text: str, concept: str) -> None:
    from eligibility import nodes as n
    from eligibility.parse import parse_criterion

    rule = parse_criterion(text, "exclusion")
    assert any(isinstance(x, n.Condition) and x.concept == concept for x in n.walk(rule)), rule


@pytest.mark.parametrize(
    ("system", "code", "concept", "member"),
    [
        ("snomed", "38341003", "hypertension", True),  # Synthea's "Hypertension"
        ("icd10cm", "I10", "hypertension", True),
        ("icd10cm", "I27.20", "hypertension", False),  # pulmonary hypertension is another disease
        ("snomed", "44054006", "type2_diabetes", True),  # Synthea's "Diabetes"
        ("icd10cm", "E10.9", "type2_diabetes", False),
        ("snomed", "230690007", "stroke", True),
        ("icd10cm", "G45.9", "stroke", False),  # a TIA is not a stroke
        ("icd10cm", "G30.9", "dementia", False),  # Alzheimer's disease alone does not prove dementia
    ],
)
def test_common_condition_codes(vocab: Vocabulary, system: str, code: str, concept: str, member: bool) -> None:
    assert bool(vocab.concepts_for_code(system, code) & vocab.leaf_set(concept)) is member  # the concept or a member


@pytest.mark.parametrize(
    ("code", "concept", "member"),
    [
        ("O99.011", "pregnancy", True),  # anaemia complicating pregnancy, first trimester
        ("O99.03", "pregnancy", False),  # anaemia complicating the puerperium: after the birth
        ("O24.43", "pregnancy", False),  # gestational diabetes in the puerperium
        ("O10.03", "pregnancy", False),
        ("O92.03", "lactation", True),  # retracted nipple associated with lactation
        ("O92.3", "lactation", False),  # agalactia: no milk
        ("O92.5", "lactation", False),  # suppressed lactation
    ],
)
def test_pregnancy_and_lactation_codes_say_she_is_pregnant_or_lactating(
    vocab: Vocabulary, code: str, concept: str, member: bool
) -> None:
    """A woman weeks after the birth, or one whose lactation was suppressed, is neither (blind audit seed 12)."""
    assert (concept in vocab.concepts_for_code("icd10cm", code)) is member
