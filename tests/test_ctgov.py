"""Tests for the CT.gov reader and the criteria splitter.

Criteria texts here are written by hand for each shape the splitter must handle; the only real records used
are the CT.gov JSON files under ``/work/shared/data/ctgov`` (read in place, skipped when absent). The LCT
plain-text documents are only looped over to check robustness; their text is never copied here.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility.errors import InputError
from eligibility.io.ctgov import (
    AgeLimit,
    RawCriterion,
    StudyRecord,
    parse_age_limit,
    read_ctgov_json,
    split_criteria,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CTGOV = DATA / "ctgov"
LCT_DOCS = DATA / "lct" / "docs"

needs_ctgov = pytest.mark.skipif(not CTGOV.is_dir(), reason="shared CT.gov data not present")


# --------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------


def texts(raw: str) -> list[tuple[str, str, str | None]]:
    """(id, text, section) triples: compact to compare in table tests."""
    return [(c.id, c.text, c.section) for c in split_criteria(raw)]


def clean_like_splitter(fragment: str) -> str:
    """Independent re-implementation of the cleaning contract, to check spans against texts."""
    s = re.sub(r"\\([\\`*_{}\[\]()#+\-.!<>^&|~=\"'$%:;/@])", r"\1", fragment)
    s = re.sub(r"&\s?gt;", ">", s)
    s = re.sub(r"&\s?lt;", "<", s)
    s = re.sub(r"&\s?ge;", "≥", s)
    s = re.sub(r"&\s?le;", "≤", s)
    s = re.sub(r"&\s?amp;", "&", s)
    s = " ".join(s.split())
    return s.rstrip(" ;")


def check_invariants(raw: str, crits: list[RawCriterion]) -> None:
    """Structural promises every split result keeps, whatever the input."""
    seen: set[str] = set()
    counters: Counter[str] = Counter()
    prefix = {"inclusion": "I", "exclusion": "E", "unspecified": "C"}
    for c in crits:
        assert c.text, "criteria are never empty"
        assert c.text == c.text.strip()
        assert "  " not in c.text
        assert 0 <= c.span[0] <= c.span[1] <= len(raw)
        assert len(c.offsets) == len(c.text)
        assert all(a < b for a, b in zip(c.offsets, c.offsets[1:], strict=False))
        assert all(c.span[0] <= o < c.span[1] for o in c.offsets)
        counters[c.kind] += 1
        assert c.id == f"{prefix[c.kind]}{counters[c.kind]}"
        assert c.id not in seen
        seen.add(c.id)


def write_json(tmp_path: Path, data: Any, name: str = "s.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def study(nct: str = "NCT00000001", **elig: Any) -> dict[str, Any]:
    module: dict[str, Any] = {"eligibilityCriteria": "Inclusion Criteria:\n\n* Adults\n"}
    module.update(elig)
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct, "briefTitle": "A study"},
            "eligibilityModule": module,
        }
    }


# --------------------------------------------------------------------------------------------------------
# the seed trial and the real CT.gov files
# --------------------------------------------------------------------------------------------------------


@needs_ctgov
def test_seed_nct06352281_splits_into_8_inclusion_and_18_exclusion() -> None:
    [record] = read_ctgov_json(CTGOV / "NCT06352281.json")
    crits = record.criteria()
    kinds = Counter(c.kind for c in crits)
    assert kinds == {"inclusion": 8, "exclusion": 18}
    by_id = {c.id: c for c in crits}
    assert by_id["I5"].text == "Platelet count <30 x 109 / L"
    assert by_id["I2"].text == "Men and women aged 8-75"
    assert [c.id for c in crits[:8]] == [f"I{i}" for i in range(1, 9)]
    assert crits[-1].id == "E18"
    check_invariants(record.criteria_text, crits)
    # The span of I5 in the registry text still holds the Markdown escape and the ';'.
    start, end = by_id["I5"].span
    assert record.criteria_text[start:end] == "Platelet count \\<30 x 109 / L"
    assert record.minimum_age == AgeLimit(value=8, unit="years", text="8 Years")
    assert record.maximum_age == AgeLimit(value=75, unit="years", text="75 Years")
    assert record.sex == "ALL"
    assert record.healthy_volunteers is False


def ctgov_files() -> list[Path]:
    return sorted(CTGOV.glob("*.json")) if CTGOV.is_dir() else []


@needs_ctgov
def test_every_ctgov_study_reads_and_splits() -> None:
    files = ctgov_files()
    assert len(files) == 5
    records = [r for f in files for r in read_ctgov_json(f)]
    # 50 + NCT02663973 + the two seed trials + the 100-study leukaemia library
    assert len(records) == 153
    assert len({r.nct_id for r in records}) == 153
    for record in records:
        crits = split_criteria(record.criteria_text)
        check_invariants(record.criteria_text, crits)
        if record.criteria_text.strip():
            assert crits, record.nct_id
        for c in crits:
            # Markdown escapes never survive cleaning.
            assert "\\>" not in c.text and "\\<" not in c.text and "\\[" not in c.text, record.nct_id


@needs_ctgov
def test_ctgov_ages_and_notes() -> None:
    records = {r.nct_id: r for f in ctgov_files() for r in read_ctgov_json(f)}
    implausible = records["NCT05883644"]
    assert implausible.maximum_age is None
    assert "maximum age 130 Years is implausible; treated as no upper limit" in implausible.notes
    assert records["NCT05814159"].minimum_age == AgeLimit(value=8, unit="months", text="8 Months")
    assert records["NCT05814159"].maximum_age is None  # absent in the record
    assert records["NCT05923112"].minimum_age is None
    assert "minimum age 0 Years: no lower limit" in records["NCT05923112"].notes
    assert records["NCT02663973"].sex == "FEMALE"
    assert records["NCT06168851"].maximum_age == AgeLimit(value=17, unit="years", text="17 Years")


@needs_ctgov
def test_ctgov_spans_clean_to_the_text() -> None:
    records = {r.nct_id: r for f in ctgov_files() for r in read_ctgov_json(f)}
    for nct in ("NCT06352281", "NCT05925803", "NCT05814159", "NCT05915728"):
        raw = records[nct].criteria_text
        for c in split_criteria(raw):
            assert clean_like_splitter(raw[c.span[0] : c.span[1]]) == c.text, (nct, c.id)


@needs_ctgov
def test_ctgov_nested_list_children_are_separate_criteria_with_parent_as_section() -> None:
    records = {r.nct_id: r for f in ctgov_files() for r in read_ctgov_json(f)}
    crits = split_criteria(records["NCT05809934"].criteria_text)
    alt = [c for c in crits if c.text.startswith("ALT")]
    assert len(alt) == 1
    assert alt[0].kind == "exclusion"
    assert alt[0].section is not None and alt[0].section.endswith(
        "Any of the following confirmed at the screening visit"
    )
    assert not any(c.text.startswith("Any of the following") for c in crits)


# --------------------------------------------------------------------------------------------------------
# headers
# --------------------------------------------------------------------------------------------------------

HEADER_CASES = [
    ("Inclusion Criteria:\n* Adults\nExclusion Criteria:\n* Smokers", None),
    ("INCLUSION CRITERIA\n- Adults\n\nEXCLUSION CRITERIA\n- Smokers", None),
    ("Key Inclusion Criteria:\n1. Adults\nKey Exclusion Criteria:\n1. Smokers", None),
    ("Inclusion criteria include\n• Adults\nExclusion criteria include:\n• Smokers", None),
    ("Main inclusion criteria\n1) Adults\nMain exclusion criteria\n1) Smokers", None),
    ("**Inclusion Criteria**\n* Adults\n\n**Exclusion Criteria**\n* Smokers", None),
    ("# Inclusion\n* Adults\n# Exclusion\n* Smokers", None),
    ("inclusion criteria:\n  -  Adults\nexclusion criteria:\n  -  Smokers", None),
    ("Inclusion Criteria :\n\n* Adults\n\nExclusion Criteria :\n\n* Smokers", None),
    ("Inclusions:\n- Adults\nExclusions:\n- Smokers", None),
    ("Inclusion Criteria\n\n* Adults\n\nNon-inclusion criteria:\n\n* Smokers", None),
]


@pytest.mark.parametrize(("raw", "section"), HEADER_CASES)
def test_header_spellings(raw: str, section: str | None) -> None:
    assert texts(raw) == [("I1", "Adults", section), ("E1", "Smokers", section)]


def test_header_with_qualifier_becomes_section() -> None:
    raw = (
        "Inclusion Criteria:\n* Adults\n\n"
        "Specific inclusion criteria for kidney recipients:\n* Stable graft\n\n"
        "Exclusion Criteria (control group)\n* Smokers\n"
    )
    assert texts(raw) == [
        ("I1", "Adults", None),
        ("I2", "Stable graft", "Specific inclusion criteria for kidney recipients"),
        ("E1", "Smokers", "Exclusion Criteria (control group)"),
    ]


def test_text_after_header_colon_is_a_criterion() -> None:
    raw = "Inclusion Criteria: Adults with asthma\nExclusion Criteria: Current smokers"
    assert texts(raw) == [("I1", "Adults with asthma", None), ("E1", "Current smokers", None)]


def test_intro_sentences_head_their_items() -> None:
    """An intro is not a criterion, but it heads the items below it: its words may say how they combine."""
    inc_intro = "Patients are eligible to be included only if all of the following criteria apply"
    exc_intro = "Patients are excluded from the study if any of the following criteria apply"
    raw = (
        "Inclusion Criteria:\n\n"
        f"{inc_intro}:\n\n"
        "1. Age 18 or older\n\nExclusion Criteria:\n\n"
        f"{exc_intro}:\n\n1. Prior stroke\n"
    )
    assert texts(raw) == [("I1", "Age 18 or older", inc_intro), ("E1", "Prior stroke", exc_intro)]


def test_sentences_naming_both_kinds_are_not_headers() -> None:
    raw = "Inclusion Criteria:\n* Adults\n\nOther protocol-defined inclusion/exclusion criteria may apply."
    crits = split_criteria(raw)
    assert [c.kind for c in crits] == ["inclusion", "inclusion"]
    assert crits[1].text == "Other protocol-defined inclusion/exclusion criteria may apply."


def test_text_before_any_header_is_unspecified() -> None:
    raw = "Healthy adults only\n\nInclusion Criteria:\n* Age 18 to 40\nExclusion Criteria:\n* Pregnancy"
    assert texts(raw) == [
        ("C1", "Healthy adults only", None),
        ("I1", "Age 18 to 40", None),
        ("E1", "Pregnancy", None),
    ]


def test_no_header_at_all_gives_unspecified_c_ids() -> None:
    raw = "- Age 18 or older\n- Body weight over 50 kg\n- Signed consent"
    crits = split_criteria(raw)
    assert [(c.id, c.kind) for c in crits] == [
        ("C1", "unspecified"),
        ("C2", "unspecified"),
        ("C3", "unspecified"),
    ]


@pytest.mark.parametrize(
    "raw",
    ["", "   \n\n\t", "Inclusion Criteria:", "Inclusion Criteria:\n\nExclusion Criteria:\n", "* \n-\n1.\n"],
)
def test_empty_or_header_only_input_gives_nothing(raw: str) -> None:
    assert split_criteria(raw) == []


# --------------------------------------------------------------------------------------------------------
# markers
# --------------------------------------------------------------------------------------------------------

MARKER_CASES = [
    "* Adults\n* Non-smokers",
    "- Adults\n- Non-smokers",
    "+ Adults\n+ Non-smokers",
    "• Adults\n• Non-smokers",
    "· Adults\n· Non-smokers",
    "– Adults\n– Non-smokers",
    "1. Adults\n2. Non-smokers",
    "1) Adults\n2) Non-smokers",
    "(1) Adults\n(2) Non-smokers",
    "a. Adults\nb. Non-smokers",
    "a) Adults\nb) Non-smokers",
    "(a) Adults\n(b) Non-smokers",
    "i. Adults\nii. Non-smokers",
    "iv) Adults\nv) Non-smokers",
    "  -  Adults\n  -  Non-smokers",
    "•Adults\n•Non-smokers",
    "-Adults\n-Non-smokers",
    "1\\. Adults\n2\\. Non-smokers",
]


@pytest.mark.parametrize("body", MARKER_CASES)
def test_bullets_and_numbers_are_stripped(body: str) -> None:
    raw = "Inclusion Criteria:\n" + body
    assert [t for _, t, _ in texts(raw)] == ["Adults", "Non-smokers"]


def test_genus_abbreviation_is_not_a_letter_marker() -> None:
    raw = "Exclusion Criteria:\n* Known infection with\nE. coli resistant to carbapenems\n* Prior sepsis"
    assert [t for _, t, _ in texts(raw)] == [
        "Known infection with E. coli resistant to carbapenems",
        "Prior sepsis",
    ]


def test_numbers_in_text_are_not_markers() -> None:
    raw = "Inclusion Criteria:\n1. Platelets\n   100 x 10^9/L or more\n2. Hb 9.5 g/dL or more"
    assert [t for _, t, _ in texts(raw)] == ["Platelets 100 x 10^9/L or more", "Hb 9.5 g/dL or more"]


# --------------------------------------------------------------------------------------------------------
# continuation, paragraphs, notes
# --------------------------------------------------------------------------------------------------------


def test_indented_line_continues_the_criterion() -> None:
    raw = "Inclusion Criteria:\n  1. Creatinine at most 1.5 x the upper\n     limit of normal\n  2. Adults"
    assert [t for _, t, _ in texts(raw)] == [
        "Creatinine at most 1.5 x the upper limit of normal",
        "Adults",
    ]


def test_lowercase_or_connective_line_continues() -> None:
    raw = "Exclusion Criteria:\n- History of stroke or\nTIA within 6 months\n- Pregnancy,\nplanned pregnancy"
    assert [t for _, t, _ in texts(raw)] == [
        "History of stroke or TIA within 6 months",
        "Pregnancy, planned pregnancy",
    ]


def test_unmarked_lines_are_one_criterion_each_in_plain_documents() -> None:
    raw = "Inclusion criteria:\nAge at least 21\nBMI below 35 kg/m2\nExclusion criteria:\nActive cancer"
    assert texts(raw) == [
        ("I1", "Age at least 21", None),
        ("I2", "BMI below 35 kg/m2", None),
        ("E1", "Active cancer", None),
    ]


def test_blank_line_separated_paragraph_is_its_own_criterion() -> None:
    raw = "Inclusion Criteria:\n\n* Adults\n\nFurther criteria are listed in the protocol.\n"
    assert [t for _, t, _ in texts(raw)] == ["Adults", "Further criteria are listed in the protocol."]


def test_indented_paragraph_inside_a_markdown_item_continues_it() -> None:
    raw = "Inclusion Criteria:\n\n1. Men:\n\n   Must agree to use condoms.\n2. Adequate renal function\n"
    assert [t for _, t, _ in texts(raw)] == [
        "Men: Must agree to use condoms.",
        "Adequate renal function",
    ]


@pytest.mark.parametrize(
    "note",
    ["Note: a dipstick result of 1+ is acceptable", "NOTE: a dipstick result of 1+ is acceptable"],
)
def test_notes_attach_to_the_previous_criterion(note: str) -> None:
    raw = f"Exclusion Criteria:\n\n1. Proteinuria\n\n   {note}\n2. Active infection\n"
    crits = split_criteria(raw)
    assert [c.text for c in crits] == [f"Proteinuria {note}", "Active infection"]
    assert clean_like_splitter(raw[crits[0].span[0] : crits[0].span[1]]) == crits[0].text


def test_unindented_note_line_attaches_too() -> None:
    raw = "Inclusion Criteria:\n- Age 18 or older\nNote: age is checked at consent\n- Signed consent"
    assert [t for _, t, _ in texts(raw)] == [
        "Age 18 or older Note: age is checked at consent",
        "Signed consent",
    ]


def test_lone_or_line_attaches_to_the_previous_criterion() -> None:
    raw = "Inclusion Criteria:\n  -  Prior lobectomy\nOR\n  -  Prior pneumonectomy"
    assert [t for _, t, _ in texts(raw)] == ["Prior lobectomy OR", "Prior pneumonectomy"]


def test_placeholders_are_dropped() -> None:
    raw = "Inclusion Criteria:\n\n* Everyone treated with drug X\n\nExclusion Criteria:\n\n* None\n"
    assert texts(raw) == [("I1", "Everyone treated with drug X", None)]
    assert texts("Inclusion Criteria:\n* Adults\nExclusion Criteria:\n\n-\n") == [("I1", "Adults", None)]


# --------------------------------------------------------------------------------------------------------
# sub-headings and nested lists
# --------------------------------------------------------------------------------------------------------


def test_subheadings_set_the_section() -> None:
    raw = (
        "Inclusion Criteria:\n\nPart A:\n\n* Solid tumour\n* ECOG 0-1\n\n"
        "Cohort 2:\n\n* Prior PD-1 therapy\n\n"
        "For patients in arm B:\n\n* Measurable disease\n\nExclusion Criteria:\n\n* Brain metastases\n"
    )
    assert texts(raw) == [
        ("I1", "Solid tumour", "Part A"),
        ("I2", "ECOG 0-1", "Part A"),
        ("I3", "Prior PD-1 therapy", "Cohort 2"),
        ("I4", "Measurable disease", "For patients in arm B"),
        ("E1", "Brain metastases", None),
    ]


def test_group_label_above_headers_prefixes_their_sections() -> None:
    raw = (
        "Adult patients:\nInclusion Criteria:\n  -  Age 18 or older\nExclusion Criteria:\n  -  Dementia\n"
        "Caregivers:\nInclusion Criteria:\n  -  Lives with the patient\n"
    )
    assert texts(raw) == [
        ("I1", "Age 18 or older", "Adult patients"),
        ("E1", "Dementia", "Adult patients"),
        ("I2", "Lives with the patient", "Caregivers"),
    ]


def test_short_title_line_without_colon_is_a_subheading_before_a_list() -> None:
    raw = "Exclusion Criteria:\n\nMedical Conditions\n\n1. Cirrhosis\n\nPrior Therapy\n\n1. Prior rituximab\n"
    assert texts(raw) == [
        ("E1", "Cirrhosis", "Medical Conditions"),
        ("E2", "Prior rituximab", "Prior Therapy"),
    ]


def test_markdown_heading_is_a_subheading() -> None:
    raw = "Inclusion Criteria:\n## Dose escalation\n- Refractory disease\n## Expansion\n- Treatment naive"
    assert texts(raw) == [
        ("I1", "Refractory disease", "Dose escalation"),
        ("I2", "Treatment naive", "Expansion"),
    ]


def test_lead_in_parent_becomes_section_of_its_sub_items() -> None:
    raw = (
        "Inclusion Criteria:\n\n1. Age 18 or older\n2. Laboratory values as follows:\n\n"
        "   * Hemoglobin 9 g/dL or more\n   * Platelets 100 x 10^9/L or more\n3. Signed consent\n"
    )
    assert texts(raw) == [
        ("I1", "Age 18 or older", None),
        ("I2", "Hemoglobin 9 g/dL or more", "Laboratory values as follows"),
        ("I3", "Platelets 100 x 10^9/L or more", "Laboratory values as follows"),
        ("I4", "Signed consent", None),
    ]


def test_fragment_parent_is_not_a_criterion() -> None:
    raw = "Inclusion Criteria:\n* Have a BMI\n\n  * of 30 kg/m2 or more\n  * of 27 or more with diabetes\n"
    assert texts(raw) == [
        ("I1", "of 30 kg/m2 or more", "Have a BMI"),
        ("I2", "of 27 or more with diabetes", "Have a BMI"),
    ]


def test_complete_parent_is_kept_and_gives_context() -> None:
    raw = "Exclusion Criteria:\n- Uncontrolled hypertension.\n    - Systolic over 160 mmHg\n- Pregnancy"
    assert texts(raw) == [
        ("E1", "Uncontrolled hypertension.", None),
        ("E2", "Systolic over 160 mmHg", "Uncontrolled hypertension."),
        ("E3", "Pregnancy", None),
    ]


def test_nested_section_stacks_under_subheading() -> None:
    raw = "Inclusion Criteria:\n\nPart A:\n\n* One of the following:\n  * Prior surgery\n  * Prior RT\n"
    assert texts(raw) == [
        ("I1", "Prior surgery", "Part A > One of the following"),
        ("I2", "Prior RT", "Part A > One of the following"),
    ]


def test_item_written_subheading_ends_when_the_list_goes_back_out() -> None:
    raw = (
        "Inclusion Criteria:\n* Women of childbearing potential must have:\n"
        "  * Documented method A:\n  * Implant\n  * Injection\n* Signed consent\n"
    )
    crits = split_criteria(raw)
    assert [c.text for c in crits] == ["Implant", "Injection", "Signed consent"]
    assert crits[0].section == "Women of childbearing potential must have > Documented method A"
    assert crits[2].section is None


# --------------------------------------------------------------------------------------------------------
# cleaning and spans
# --------------------------------------------------------------------------------------------------------

CLEANING_CASES = [
    ("ANC \\>= 1.5 x 10\\^9/L", "ANC >= 1.5 x 10^9/L"),
    ("Creatinine \\< 2 mg/dL", "Creatinine < 2 mg/dL"),
    ("HbA1c \\[central lab\\] \\> 7\\.0 %", "HbA1c [central lab] > 7.0 %"),
    ("Weight &gt; 50 kg", "Weight > 50 kg"),
    ("Age &lt; 65 years", "Age < 65 years"),
    ("Age & gt; 18", "Age > 18"),
    ("Age \\& gt; 18", "Age > 18"),
    ("eGFR &ge; 60 &amp; stable", "eGFR ≥ 60 & stable"),
    ("Bilirubin &le; 1.5 x ULN", "Bilirubin ≤ 1.5 x ULN"),
    ("A \\* B \\_ C \\( D \\) \\# E \\+ F \\- G \\! H", "A * B _ C ( D ) # E + F - G ! H"),
    ("Tabs\tand   spaces", "Tabs and spaces"),
    ("**Bold** word;", "Bold word"),
]


@pytest.mark.parametrize(("written", "clean"), CLEANING_CASES)
def test_cleaning(written: str, clean: str) -> None:
    raw = f"Inclusion Criteria:\n\n* {written}\n"
    [crit] = split_criteria(raw)
    assert crit.text == clean
    check_invariants(raw, [crit])
    # Every character maps back to the character it came from (entities map to their '&').
    for ch, off in zip(crit.text, crit.offsets, strict=True):
        if ch in "≥≤" or raw[off] == "&":
            continue
        assert raw[off] == ch or (ch == " " and raw[off].isspace())


SPAN_CASES = [
    "Inclusion Criteria:\n\n1. Age \\>= 18 years;\n2. Platelets &gt; 50\n",
    "Exclusion Criteria:\r\n  -  History of stroke or\r\n     TIA;  \r\n  -  Pregnancy\r\n",
    "Inclusion Criteria: Adults\nExclusion Criteria:\n* Smokers;\n",
    "1) One\n2) Two \\[a\\]\n   continued here\n",
]


@pytest.mark.parametrize("raw", SPAN_CASES)
def test_span_of_each_criterion_cleans_to_its_text(raw: str) -> None:
    crits = split_criteria(raw)
    assert crits
    check_invariants(raw, crits)
    for c in crits:
        fragment = raw[c.span[0] : c.span[1]]
        assert clean_like_splitter(fragment) == c.text
        assert not fragment.endswith((";", " ", "\n", "\r"))
        assert not fragment.startswith((" ", "-", "*"))


def test_offsets_map_a_match_back_to_the_original() -> None:
    raw = "Inclusion Criteria:\n\n* Platelet count \\<30 x 10\\^9/L\n"
    [crit] = split_criteria(raw)
    pos = crit.text.index("<30")
    assert raw[crit.offsets[pos]] == "<"
    assert raw[crit.offsets[pos] - 1] == "\\"


def test_raw_criterion_rejects_mismatched_offsets() -> None:
    with pytest.raises(ValueError, match="offsets"):
        RawCriterion(id="I1", kind="inclusion", text="abc", span=(0, 3), offsets=(0, 1))


# --------------------------------------------------------------------------------------------------------
# robustness
# --------------------------------------------------------------------------------------------------------

_ATOMS = st.sampled_from(
    [
        "Inclusion Criteria:",
        "Exclusion criteria",
        "Key Inclusion Criteria :",
        "# Inclusion",
        "**Exclusion**",
        "* ",
        "- ",
        "• ",
        "1. ",
        "2) ",
        "(3) ",
        "a. ",
        "iv) ",
        "   ",
        "\t",
        "Part A:",
        "Note:",
        "OR",
        "None",
        "Age",
        "\\>",
        "\\<",
        "&gt;",
        "& gt;",
        "\\& gt;",
        "&#9999999;",
        "&amp;",
        "18",
        "years",
        ";",
        ":",
        ".",
        "\\",
        "<!-- -->",
        "---",
        "\ufeff",
        "\u200b",
        "\r",
        "\r\n",
        "\n",
        "\n\n",
        "E. coli",
        "following:",
        "Participants are excluded if any of the following criteria apply:",
        "\u2028",
        "\x0b",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(raw: str) -> None:
    check_invariants(raw, split_criteria(raw))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_ATOMS, st.text(max_size=6)), max_size=40).map("".join))
def test_structured_noise_never_raises(raw: str) -> None:
    check_invariants(raw, split_criteria(raw))


def lct_files() -> list[Path]:
    return sorted(LCT_DOCS.glob("batch*/NCT*.txt")) if LCT_DOCS.is_dir() else []


@pytest.mark.skipif(not LCT_DOCS.is_dir(), reason="shared LCT documents not present")
def test_every_lct_document_splits() -> None:
    files = lct_files()
    assert files
    for path in files:
        raw = path.read_text(encoding="utf-8")
        crits = split_criteria(raw)
        assert crits, path.name
        check_invariants(raw, crits)


# --------------------------------------------------------------------------------------------------------
# ages
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("8 Years", 8, "years"),
        ("8 Months", 8, "months"),
        ("0 Years", 0, "years"),
        ("6 Weeks", 6, "weeks"),
        ("28 Days", 28, "days"),
        (" 1 Year ", 1, "years"),
        ("12 hours", 0.5, "days"),
    ],
)
def test_parse_age_limit(text: str, value: float, unit: str) -> None:
    age = parse_age_limit(text)
    assert (age.value, age.unit) == (value, unit)
    assert age.text == text.strip()


@pytest.mark.parametrize("text", ["N/A", "", "eighteen years", "18", "18 parsecs", "Years"])
def test_parse_age_limit_rejects_non_ages(text: str) -> None:
    with pytest.raises(InputError):
        parse_age_limit(text)


def test_age_in_years() -> None:
    assert parse_age_limit("18 Months").in_years() == pytest.approx(1.5)
    assert parse_age_limit("2 Years").in_years() == 2


# --------------------------------------------------------------------------------------------------------
# reader: shapes and errors
# --------------------------------------------------------------------------------------------------------


def test_reader_accepts_object_array_and_api_wrapper(tmp_path: Path) -> None:
    one = study("NCT00000001", minimumAge="18 Years", sex="FEMALE", healthyVolunteers=True)
    two = study("NCT00000002")
    for data in (one, [one, two], {"studies": [one, two], "nextPageToken": "x"}):
        records = read_ctgov_json(write_json(tmp_path, data))
        assert records[0] == StudyRecord(
            nct_id="NCT00000001",
            title="A study",
            criteria_text="Inclusion Criteria:\n\n* Adults\n",
            minimum_age=AgeLimit(value=18, unit="years", text="18 Years"),
            maximum_age=None,
            sex="FEMALE",
            healthy_volunteers=True,
            notes=(),
        )
    assert [r.nct_id for r in read_ctgov_json(str(write_json(tmp_path, [one, two])))] == [
        "NCT00000001",
        "NCT00000002",
    ]


def test_reader_missing_eligibility_module(tmp_path: Path) -> None:
    data = {"protocolSection": {"identificationModule": {"nctId": "NCT00000003"}}}
    [record] = read_ctgov_json(write_json(tmp_path, data))
    assert record.criteria_text == ""
    assert record.minimum_age is None and record.maximum_age is None and record.sex is None
    assert record.healthy_volunteers is None
    assert record.criteria() == []


def test_reader_na_age_is_no_limit_with_note(tmp_path: Path) -> None:
    [record] = read_ctgov_json(write_json(tmp_path, study(maximumAge="N/A")))
    assert record.maximum_age is None
    assert any("maximum age N/A" in n for n in record.notes)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {"studies": [study("NCT00000001"), {"protocolSection": {"identificationModule": {}}}]},
            "studies[1].protocolSection.identificationModule.nctId",
        ),
        ([study("NCT12")], "[0].protocolSection.identificationModule.nctId"),
        ({"protocolSection": {}}, "protocolSection.identificationModule"),
        ([{"hasResults": False}], "[0].protocolSection"),
        ([study(minimumAge="eighteen")], "[0].protocolSection.eligibilityModule.minimumAge"),
        ([study(maximumAge=65)], "[0].protocolSection.eligibilityModule.maximumAge"),
        ([study(sex="BOTH")], "[0].protocolSection.eligibilityModule.sex"),
        ([study(healthyVolunteers="maybe")], "[0].protocolSection.eligibilityModule.healthyVolunteers"),
        ([study(eligibilityCriteria=["a"])], "[0].protocolSection.eligibilityModule.eligibilityCriteria"),
        ({"studies": {"a": 1}}, "studies"),
        ([42], "[0]"),
    ],
)
def test_reader_errors_name_path_and_field(tmp_path: Path, data: Any, field: str) -> None:
    path = write_json(tmp_path, data)
    with pytest.raises(InputError) as info:
        read_ctgov_json(path)
    assert info.value.path == str(path)
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize("content", ["{not json", '"a string"', "42"])
def test_reader_rejects_non_study_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_ctgov_json(path)
    assert info.value.path == str(path)


def test_reader_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_ctgov_json(tmp_path / "absent.json")


def test_reader_notes_for_odd_ages(tmp_path: Path) -> None:
    data = study(minimumAge="0 Years", maximumAge="999 Years")
    [record] = read_ctgov_json(write_json(tmp_path, data))
    assert record.minimum_age is None and record.maximum_age is None
    assert record.notes == (
        "minimum age 0 Years: no lower limit",
        "maximum age 999 Years is implausible; treated as no upper limit",
    )
    [swapped] = read_ctgov_json(write_json(tmp_path, study(minimumAge="65 Years", maximumAge="18 Years")))
    assert swapped.notes == ("minimum age 65 Years exceeds maximum age 18 Years; check the record",)


def test_models_are_frozen_and_strict() -> None:
    age = AgeLimit(value=1, unit="years", text="1 Year")
    with pytest.raises(ValueError):
        age.value = 2  # type: ignore[misc]
    with pytest.raises(ValueError):
        AgeLimit(value=1, unit="years", text="1 Year", extra=1)  # type: ignore[call-arg]
