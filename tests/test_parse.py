# ruff: noqa: E501
"""Parsing: criterion text -> rule AST.

Tables compare ``strip_spans(parsed)`` with an expected AST. Unparsed/Ambiguous ``reason`` strings
are prose for people, so they are blanked on both sides before comparing (``norm``); everything else
(concepts, operators, values, units, windows, nesting) is compared exactly.

The expected readings of the registry text were checked for soundness: a reading may be partial
(Unparsed / Ambiguous where the text is not computable) but may never claim what the text does not say.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import nodes as n
from eligibility.concepts import default_vocabulary
from eligibility.errors import ParseError
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.parse import parse_criterion, read_criterion
from eligibility.patient import ConditionRecord, Patient
from eligibility.render import render

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"
VOCAB = default_vocabulary()
ANY = "*"


def U(text: str) -> n.Unparsed:
    return n.Unparsed(text=text, reason=ANY)


def Amb(readings: tuple[Any, ...]) -> n.Ambiguous:
    return n.Ambiguous(readings=readings, reason=ANY)


def _blank(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _blank(v) for k, v in value.items() if k != "span"}
        if out.get("kind") in ("unparsed", "ambiguous"):
            out["reason"] = ANY
        return out
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return value


def norm(rule: n.Node) -> n.Node:
    """strip_spans, plus reasons blanked (see module docstring)."""
    stripped = n.strip_spans(rule)
    return type(stripped).model_validate(_blank(stripped.model_dump(mode="json")))


def WIDE(cond: n.Condition | n.Medication, but: tuple[str, ...] = ()) -> n.Node:
    """A condition or drug class as parse reads it: with borderline concepts (malignancy: carcinoma in situ, MDS;
    corticosteroids: those given locally), both senses; ``but`` the borderline concepts the text excepts."""
    edge = tuple(b for b in default_vocabulary()[cond.concept].borderline if b not in but)
    if not edge:
        return cond
    wide = n.Or(items=(cond, *(cond.model_copy(update={"concept": b}) for b in edge)))
    return n.Ambiguous(readings=(cond, wide), reason="*")


def EITHER(concept: str) -> n.Ambiguous:
    """A bare condition in an exclusion whose concept leaves the tense open: now, or any history."""
    return n.Ambiguous(
        readings=(WIDE(n.Condition(concept=concept)), WIDE(n.Condition(concept=concept, timing="history"))),
        reason="*",
    )


def _load(trial: str) -> list[dict[str, str]]:
    return list(yaml.safe_load((RULES_DIR / f"{trial}.yaml").read_text(encoding="utf-8"))["criteria"])


CRITERIA_81 = _load("NCT06352281")
CRITERIA_51 = _load("NCT06168851")
BY_ID_81 = {c["id"]: c for c in CRITERIA_81}
RULE_STRINGS = [c["rule"] for c in CRITERIA_81 + CRITERIA_51 if c["rule"].strip() != "review"]


# ---- the registry text of NCT06352281, as published, through parse_criterion ---------------------

WHOLE = object()  # the whole criterion text, not understood

REGISTRY_81: dict[str, Any] = {
    'age': n.And(items=(n.Age(op='>=', value=8.0), n.Age(op='<=', value=75.0))),
    'I1': WHOLE,
    'I2': n.And(items=(n.Sex(sexes=('male', 'female')), n.Age(op='between', value=8.0, value2=75.0))),
    'I3': WHOLE,
    'I4': WHOLE,
    'I5': n.Lab(concept='platelets', op='<', value=30.0, unit='10^9/L'),
    'I6': n.Implies(condition=WIDE(n.Medication(concept='corticosteroids')), then=n.StableDose(concept='corticosteroids', duration=n.Duration(amount=2.0, unit='weeks'))),
    'I7': WHOLE,
    'I8': WHOLE,
    'E1': WHOLE,
    'E2': n.And(items=(n.Procedure(concept='splenectomy'), U(text='preventive'))),
    'E3': n.And(items=(WIDE(n.Condition(concept='hemostatic_disorder')), U(text='other than chronic thrombocytopenia'))),
    # the last item ('until the end of the study') is unread and may scope over the whole list
    'E4': WHOLE,
    # a relative clause after the condition: an unread part that narrows it (open world, so never decided alone)
    'E5': n.And(items=(n.Condition(concept='pseudothrombocytopenia', timing='history'), U(text='that prevents reliable measurement of platelet counts'))),
    'E6': n.Or(items=(WIDE(n.Condition(concept='malignancy')), U(text='history of cancer treatment with cytotoxic chemotherapy'), U(text='radiotherapy'))),
    'E7': WHOLE,
    'E8': WHOLE,
    'E9': WHOLE,
    'E10': n.Or(items=(n.Lab(concept='alt', op='>', value=3.0, relative='ULN'), n.Lab(concept='ast', op='>', value=3.0, relative='ULN'))),
    'E11': n.Lab(concept='creatinine', op='>', value=2.0, relative='ULN'),
    'E12': WHOLE,
    # 'HIV seropositivity' = HIV infection on record or a positive HIV test
    'E13': n.Or(items=(n.Or(items=(n.Condition(concept='hiv_infection'), n.LabResult(concept='hiv_test', result='positive'))), n.LabResult(concept='hbsag', result='positive'), n.And(items=(n.LabResult(concept='anti_hbc', result='positive'), n.LabResult(concept='hbv_dna', result='positive'))), U(text='hepatitis C (HCV-RNA quantitative test results positive)'), U(text='presence of other serious active viral'), U(text='bacterial infections'), U(text='uncontrolled systemic fungal infections'))),  # after unread items: may finish their phrase
    'E14': Amb(readings=(n.Or(items=(n.And(items=(n.Condition(concept='allergy', timing='history'), U(text='severe'))), n.And(items=(n.Condition(concept='allergy', timing='history'), U(text='severe'))))), n.Or(items=(n.And(items=(n.Condition(concept='allergy', timing='history'), U(text='severe'))), n.Condition(concept='allergy'))))),
    'E15': Amb(readings=(n.And(items=(n.Condition(concept='pregnancy'), n.Condition(concept='lactation'))), n.Or(items=(n.Condition(concept='pregnancy'), n.Condition(concept='lactation'))))),
    'E17': WHOLE,
    'E18': WHOLE,
}


@pytest.mark.parametrize("cid", list(REGISTRY_81))
def test_registry_text_reading(cid: str) -> None:
    crit = BY_ID_81[cid]
    expected = REGISTRY_81[cid]
    if expected is WHOLE:
        expected = U(crit["text"])
    assert norm(parse_criterion(crit["text"], crit["kind"])) == norm(expected)


def test_registry_table_covers_every_criterion() -> None:
    assert set(REGISTRY_81) | {"E16"} == set(BY_ID_81)  # E16: see the 'and' ambiguity test below


def _truth(rule: n.Node, patient: Patient) -> Tri:
    return evaluate(rule, Context(patient, date(2026, 1, 15), VOCAB)).truth


ALCOHOL_ONLY = Patient(id="alc", sex="male", conditions=(ConditionRecord(concept="alcohol_addiction"),))


@pytest.mark.parametrize("text", [
    BY_ID_81["E16"]["text"],  # History of mental illness and known alcohol/drug addiction
    "history of mental illness and severe alcohol addiction",
])
def test_exclusion_and_with_unreadable_item_is_not_a_confident_pass(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    # the patient has the second listed condition only: the text does not justify "not excluded"
    assert _truth(rule, ALCOHOL_ONLY) is not Tri.FALSE


def test_exclusion_and_between_plain_mentions_stays_open() -> None:
    # the consistent case: both readings kept, and they disagree for this patient
    rule = parse_criterion("history of mental illness and alcohol addiction", "exclusion")
    assert any(isinstance(x, n.Ambiguous) for x in n.walk(rule))
    assert _truth(rule, ALCOHOL_ONLY) is Tri.UNKNOWN


# ---- the reviewed rule strings of both rule files, through read_criterion -------------------------

RULE_TABLE: list[tuple[str, Any]] = [
    ('age between 8 and 75 years',
     n.Age(op='between', value=8.0, value2=75.0)),
    ('(men or women) and age between 8 and 75 years',
     n.And(items=(n.Sex(sexes=('male', 'female')), n.Age(op='between', value=8.0, value2=75.0)))),
    ('immune thrombocytopenia for > 12 months or {refractory ITP: documented intolerance or insufficient response to first- and second-line standard treatment}',
     n.Or(items=(n.Condition(concept='itp', duration=n.Bound(op='>', duration=n.Duration(amount=12.0, unit='months'))), U(text='refractory ITP: documented intolerance or insufficient response to first- and second-line standard treatment')))),
    ('platelet count < 30 10^9/L',
     n.Lab(concept='platelets', op='<', value=30.0, unit='10^9/L')),
    ('if corticosteroids, stable corticosteroids for at least 2 weeks',
     n.Implies(condition=n.Medication(concept='corticosteroids'), then=n.StableDose(concept='corticosteroids', duration=n.Duration(amount=2.0, unit='weeks')))),
    ('secondary immune thrombocytopenia or {other diseases which may cause secondary immune thrombocytopenia}',
     n.Or(items=(n.Condition(concept='secondary_itp'), U(text='other diseases which may cause secondary immune thrombocytopenia')))),
    ('splenectomy and {the splenectomy was preventive}',
     n.And(items=(n.Procedure(concept='splenectomy'), U(text='the splenectomy was preventive')))),
    ('hemostatic disorders',
     n.Condition(concept='hemostatic_disorder')),
    ('drugs that affect platelet function for > 3 consecutive days within 2 weeks or anticoagulants for > 3 consecutive days within 2 weeks',
     n.Or(items=(n.Medication(concept='platelet_function_drugs', within=n.Duration(amount=2.0, unit='weeks'), consecutive_days=n.Bound(op='>', duration=n.Duration(amount=3.0, unit='days'))), n.Medication(concept='anticoagulants', within=n.Duration(amount=2.0, unit='weeks'), consecutive_days=n.Bound(op='>', duration=n.Duration(amount=3.0, unit='days')))))),
    ('history of pseudothrombocytopenia',
     n.Condition(concept='pseudothrombocytopenia', timing='history')),
    ('malignant disease or (history of cancer and history of cytotoxic chemotherapy) or radiotherapy',
     n.Or(items=(n.Condition(concept='malignancy'), n.And(items=(n.Condition(concept='malignancy', timing='history'), n.Medication(concept='cytotoxic_chemotherapy', timing='history'))), n.Procedure(concept='radiotherapy')))),
    ('(heart failure within 1 years and {heart failure grade III-IV}) or myocardial infarction within 1 years or angioplasty within 1 years or unstable angina within 1 years or {other clinically prominent heart disease within one year}',
     n.Or(items=(n.And(items=(n.Condition(concept='heart_failure', within=n.Duration(amount=1.0, unit='years')), U(text='heart failure grade III-IV'))), n.Condition(concept='myocardial_infarction', within=n.Duration(amount=1.0, unit='years')), n.Procedure(concept='cardiac_angioplasty', within=n.Duration(amount=1.0, unit='years')), n.Condition(concept='unstable_angina', within=n.Duration(amount=1.0, unit='years')), U(text='other clinically prominent heart disease within one year')))),
    ('history of thrombosis or {significant risk factors for thrombosis}',
     n.Or(items=(n.Condition(concept='thrombosis', timing='history'), U(text='significant risk factors for thrombosis')))),
    ('acute infectious diseases or {acute or exacerbated chronic gastrointestinal disease with bleeding risk} or {pathologies of the respiratory system}',
     n.Or(items=(n.Condition(concept='acute_infection'), U(text='acute or exacerbated chronic gastrointestinal disease with bleeding risk'), U(text='pathologies of the respiratory system')))),
    ('transaminases > 3 x ULN',
     n.Or(items=(n.Lab(concept='alt', op='>', value=3.0, relative='ULN'), n.Lab(concept='ast', op='>', value=3.0, relative='ULN')))),
    ('serum creatinine > 2 x ULN',
     n.Lab(concept='creatinine', op='>', value=2.0, relative='ULN')),
    ('HIV infection or HIV test positive or hepatitis B surface antigen positive or (hepatitis B core antibody positive and HBV-DNA positive) or HCV-RNA positive or {other serious active viral or bacterial infections or uncontrolled systemic fungal infections}',
     n.Or(items=(n.Condition(concept='hiv_infection'), n.LabResult(concept='hiv_test', result='positive'), n.LabResult(concept='hbsag', result='positive'), n.And(items=(n.LabResult(concept='anti_hbc', result='positive'), n.LabResult(concept='hbv_dna', result='positive'))), n.LabResult(concept='hcv_rna', result='positive'), U(text='other serious active viral or bacterial infections or uncontrolled systemic fungal infections')))),
    ('history of allergy and {the allergy history is severe or an allergic constitution}',
     n.And(items=(n.Condition(concept='allergy', timing='history'), U(text='the allergy history is severe or an allergic constitution')))),
    ('pregnancy or lactation',
     n.Or(items=(n.Condition(concept='pregnancy'), n.Condition(concept='lactation')))),
    ('history of mental illness or history of alcohol addiction or history of drug addiction',
     n.Or(items=(n.Condition(concept='mental_illness', timing='history'), n.Condition(concept='alcohol_addiction', timing='history'), n.Condition(concept='drug_addiction', timing='history')))),
    ('age between 6 and 17 years',
     n.Age(op='between', value=6.0, value2=17.0)),
    ('age >= 6 years',
     n.Age(op='>=', value=6.0)),
    ('immune thrombocytopenia',
     n.Condition(concept='itp')),
    ('immune thrombocytopenia for >= 3 months and platelet count < 30 10^9/L within 2 days',
     n.And(items=(n.Condition(concept='itp', duration=n.Bound(op='>=', duration=n.Duration(amount=3.0, unit='months'))), n.Lab(concept='platelets', op='<', value=30.0, unit='10^9/L', lookback_days=2)))),
    ('history of corticosteroids and (history of rituximab or history of TPO receptor agonists) and {no response or relapse after corticosteroids and a second-line therapy}',
     n.And(items=(n.Medication(concept='corticosteroids', timing='history'), n.Or(items=(n.Medication(concept='rituximab', timing='history'), n.Medication(concept='tpo_receptor_agonists', timing='history'))), U(text='no response or relapse after corticosteroids and a second-line therapy')))),
    ('not (methylprednisolone within 2 weeks) and not (platelet transfusion within 2 weeks) and not (intravenous immunoglobulin within 2 weeks) and {other emergency ITP treatment completed at least 2 weeks before}',
     n.And(items=(n.Not(item=n.Medication(concept='methylprednisolone', within=n.Duration(amount=2.0, unit='weeks'))), n.Not(item=n.Procedure(concept='platelet_transfusion', within=n.Duration(amount=2.0, unit='weeks'))), n.Not(item=n.Medication(concept='ivig', within=n.Duration(amount=2.0, unit='weeks'))), U(text='other emergency ITP treatment completed at least 2 weeks before')))),
    ('ECOG performance status <= 2',
     n.Lab(concept='ecog', op='<=', value=2.0)),
    ('NYHA class <= 2',
     n.Lab(concept='nyha_class', op='<=', value=2.0)),
    ("(if corticosteroids, stable corticosteroids for at least 4 weeks) and (if TPO receptor agonists, stable TPO receptor agonists for at least 4 weeks) and not (azathioprine within 4 weeks) and not (danazol within 4 weeks) and not (cyclosporine within 4 weeks) and not (tacrolimus within 4 weeks) and not (sirolimus within 4 weeks) and not (rituximab within 3 months) and not (splenectomy within 6 months) and {other maintenance drugs ('etc.') and the corticosteroid dose limit of 0.5 mg/kg prednisone}",
     n.And(items=(n.Implies(condition=n.Medication(concept='corticosteroids'), then=n.StableDose(concept='corticosteroids', duration=n.Duration(amount=4.0, unit='weeks'))), n.Implies(condition=n.Medication(concept='tpo_receptor_agonists'), then=n.StableDose(concept='tpo_receptor_agonists', duration=n.Duration(amount=4.0, unit='weeks'))), n.Not(item=n.Medication(concept='azathioprine', within=n.Duration(amount=4.0, unit='weeks'))), n.Not(item=n.Medication(concept='danazol', within=n.Duration(amount=4.0, unit='weeks'))), n.Not(item=n.Medication(concept='cyclosporine', within=n.Duration(amount=4.0, unit='weeks'))), n.Not(item=n.Medication(concept='tacrolimus', within=n.Duration(amount=4.0, unit='weeks'))), n.Not(item=n.Medication(concept='sirolimus', within=n.Duration(amount=4.0, unit='weeks'))), n.Not(item=n.Medication(concept='rituximab', within=n.Duration(amount=3.0, unit='months'))), n.Not(item=n.Procedure(concept='splenectomy', within=n.Duration(amount=6.0, unit='months'))), U(text="other maintenance drugs ('etc.') and the corticosteroid dose limit of 0.5 mg/kg prednisone")))),
]


@pytest.mark.parametrize(("rule", "expected"), RULE_TABLE, ids=[r[:40] for r, _ in RULE_TABLE])
def test_rule_string_reading(rule: str, expected: n.Node) -> None:
    assert norm(read_criterion(rule)) == norm(expected)


def test_rule_table_covers_both_rule_files() -> None:
    assert [r for r, _ in RULE_TABLE] == RULE_STRINGS


@pytest.mark.parametrize("rule", RULE_STRINGS)
def test_rule_reading_does_not_depend_on_kind(rule: str) -> None:
    base = n.strip_spans(read_criterion(rule))
    for kind in ("inclusion", "exclusion", "unspecified"):
        assert n.strip_spans(read_criterion(rule, kind)) == base


# ---- hand-written sentences, one or more per pattern ----------------------------------------------

SENTENCES: list[tuple[str, str, Any]] = [
    ('Platelet count < 50 x 10^9/L', 'inclusion',
     n.Lab(concept='platelets', op='<', value=50.0, unit='10^9/L')),
    ('platelets <= 75 x 10^9/L', 'inclusion',
     n.Lab(concept='platelets', op='<=', value=75.0, unit='10^9/L')),
    ('platelet count ≤ 40 x 10^9/L', 'inclusion',
     n.Lab(concept='platelets', op='<=', value=40.0, unit='10^9/L')),
    ('hemoglobin > 8 g/dL', 'inclusion',
     n.Lab(concept='hemoglobin', op='>', value=8.0, unit='g/dL')),
    ('ANC ≥ 1.5 x 10^9/L', 'inclusion',
     n.Lab(concept='anc', op='>=', value=1.5, unit='10^9/L')),
    ('ECOG performance status = 1', 'inclusion',
     n.Lab(concept='ecog', op='=', value=1.0)),
    ('platelet count less than 20 x 10^9/L', 'inclusion',
     n.Lab(concept='platelets', op='<', value=20.0, unit='10^9/L')),
    ('hemoglobin at least 9 g/dL', 'inclusion',
     n.Lab(concept='hemoglobin', op='>=', value=9.0, unit='g/dL')),
    ('ECOG no more than 2', 'inclusion',
     n.Lab(concept='ecog', op='<=', value=2.0)),
    ('platelet count more than 100 x 10^9/L', 'exclusion',
     n.Lab(concept='platelets', op='>', value=100.0, unit='10^9/L')),
    ('hemoglobin greater than or equal to 10 g/dL', 'inclusion',
     n.Lab(concept='hemoglobin', op='>=', value=10.0, unit='g/dL')),
    ('platelet count between 20 and 80 x 10^9/L', 'inclusion',
     n.Lab(concept='platelets', op='between', value=20.0, value2=80.0, unit='10^9/L')),
    ('platelet count 20-80 x 10^9/L', 'inclusion',
     n.Lab(concept='platelets', op='between', value=20.0, value2=80.0, unit='10^9/L')),
    ('platelet count 20–80 x 10^9/L', 'inclusion',
     n.Lab(concept='platelets', op='between', value=20.0, value2=80.0, unit='10^9/L')),
    ('platelet count 20 to 80 x 10^9/L', 'inclusion',
     n.Lab(concept='platelets', op='between', value=20.0, value2=80.0, unit='10^9/L')),
    ('aged 8-75', 'inclusion',
     n.Age(op='between', value=8.0, value2=75.0)),
    ('aged 18 to 65 years', 'inclusion',
     n.Age(op='between', value=18.0, value2=65.0)),
    ('age ≥ 12 years', 'inclusion',
     n.Age(op='>=', value=12.0)),
    ('18 years or older', 'inclusion',
     n.Age(op='>=', value=18.0)),
    ('platelet count < 25 109/L', 'inclusion',
     n.Lab(concept='platelets', op='<', value=25.0, unit='10^9/L')),
    ('WBC > 3 x 10^9/L', 'inclusion',
     n.Lab(concept='wbc', op='>', value=3.0, unit='10^9/L')),
    ('platelets < 30 K/µL', 'inclusion',
     n.Lab(concept='platelets', op='<', value=30.0, unit='10^3/µL')),
    ('platelet count < 30 x 10^3/mm3', 'inclusion',
     n.Lab(concept='platelets', op='<', value=30.0, unit='10^3/mm³')),
    ('serum creatinine > 1.8 mg/dL', 'exclusion',
     n.Lab(concept='creatinine', op='>', value=1.8, unit='mg/dL')),
    ('serum creatinine > 160 µmol/L', 'exclusion',
     n.Lab(concept='creatinine', op='>', value=160.0, unit='µmol/L')),
    ('AST > 3 x ULN', 'exclusion',
     n.Lab(concept='ast', op='>', value=3.0, relative='ULN')),
    ('ALT more than 3 times the upper limit of normal', 'exclusion',
     n.Lab(concept='alt', op='>', value=3.0, relative='ULN')),
    ('serum creatinine ≥ 1.5 × ULN for age and sex', 'exclusion',
     n.Lab(concept='creatinine', op='>=', value=1.5, relative='ULN')),
    ('total bilirubin > 2 times higher than the upper limit of normal', 'exclusion',
     n.Lab(concept='total_bilirubin', op='>', value=2.0, relative='ULN')),
    ('history of thrombosis', 'exclusion',
     n.Condition(concept='thrombosis', timing='history')),
    ('ITP (> 12 months duration)', 'inclusion',
     n.Condition(concept='itp', duration=n.Bound(op='>', duration=n.Duration(amount=12.0, unit='months')))),
    ('ITP for more than 6 months', 'inclusion',
     n.Condition(concept='itp', duration=n.Bound(op='>', duration=n.Duration(amount=6.0, unit='months')))),
    ('myocardial infarction within one year prior to enrollment', 'exclusion',
     n.Condition(concept='myocardial_infarction', within=n.Duration(amount=1.0, unit='years'))),
    ('splenectomy within 6 months before screening', 'exclusion',
     n.Procedure(concept='splenectomy', within=n.Duration(amount=6.0, unit='months'))),
    ('aspirin for > 3 consecutive days within 2 weeks', 'exclusion',
     n.Medication(concept='aspirin', within=n.Duration(amount=2.0, unit='weeks'), consecutive_days=n.Bound(op='>', duration=n.Duration(amount=3.0, unit='days')))),
    ('clopidogrel for at least 5 consecutive days within 1 months', 'exclusion',
     n.Medication(concept='clopidogrel', within=n.Duration(amount=1.0, unit='months'), consecutive_days=n.Bound(op='>=', duration=n.Duration(amount=5.0, unit='days')))),
    ('HBsAg positive', 'exclusion',
     n.LabResult(concept='hbsag', result='positive')),
    ('HCV-RNA positive', 'exclusion',
     n.LabResult(concept='hcv_rna', result='positive')),
    ('HBsAg negative', 'inclusion',
     n.LabResult(concept='hbsag', result='negative')),
    ('female', 'inclusion',
     n.Sex(sexes=('female',))),
    ('men or women', 'inclusion',
     n.Sex(sexes=('male', 'female'))),
    ('pregnancy or lactation', 'exclusion',
     n.Or(items=(n.Condition(concept='pregnancy'), n.Condition(concept='lactation')))),
    ('pregnant or breastfeeding', 'exclusion',
     n.Or(items=(n.Condition(concept='pregnancy'), n.Condition(concept='lactation')))),
    ('breastfeeding', 'exclusion',
     n.Condition(concept='lactation')),
    ('thrombosis and/or heart failure', 'exclusion',
     n.Or(items=(n.Condition(concept='thrombosis'), n.Condition(concept='heart_failure')))),
    ('thrombosis, heart failure, or malignancy', 'exclusion',
     n.Or(items=(n.Condition(concept='thrombosis'), n.Condition(concept='heart_failure'), EITHER('malignancy')))),
    ('thrombosis, heart failure, or malignancy', 'inclusion',
     n.Or(items=(n.Condition(concept='thrombosis'), n.Condition(concept='heart_failure'), WIDE(n.Condition(concept='malignancy'))))),
    ('malignancy within the past 5 years', 'exclusion',
     WIDE(n.Condition(concept='malignancy', within=n.Duration(amount=5, unit='years')))),
    ('(heart failure or myocardial infarction) and thrombosis', 'exclusion',
     n.And(items=(n.Or(items=(n.Condition(concept='heart_failure'), n.Condition(concept='myocardial_infarction'))), n.Condition(concept='thrombosis')))),
    ('ALT < 3 x ULN and AST < 3 x ULN', 'inclusion',
     n.And(items=(n.Lab(concept='alt', op='<', value=3.0, relative='ULN'), n.Lab(concept='ast', op='<', value=3.0, relative='ULN')))),
    ('platelet count < 30 x 10^9/L and hemoglobin > 8 g/dL', 'inclusion',
     n.And(items=(n.Lab(concept='platelets', op='<', value=30.0, unit='10^9/L'), n.Lab(concept='hemoglobin', op='>', value=8.0, unit='g/dL')))),
    ('HBsAg positive or HCV-RNA positive', 'exclusion',
     n.Or(items=(n.LabResult(concept='hbsag', result='positive'), n.LabResult(concept='hcv_rna', result='positive')))),
    ('no history of splenectomy', 'inclusion',
     n.Not(item=n.Procedure(concept='splenectomy'))),
    ('without anticoagulants', 'inclusion',
     n.Not(item=n.Medication(concept='anticoagulants'))),
    ('not pregnant', 'inclusion',
     n.Not(item=n.Condition(concept='pregnancy'))),
    ('thrombosis and not anticoagulants', 'exclusion',
     n.And(items=(n.Condition(concept='thrombosis'), n.Not(item=n.Medication(concept='anticoagulants'))))),
    ('hemostatic disorders except thrombophilia', 'exclusion',
     WIDE(n.Condition(concept='hemostatic_disorder', excluding=('thrombophilia',)), but=('thrombophilia',))),
    ('hemostatic disorders other than thrombophilia', 'exclusion',
     WIDE(n.Condition(concept='hemostatic_disorder', excluding=('thrombophilia',)), but=('thrombophilia',))),
    ('if taking corticosteroids, the dose should be stable for at least 2 weeks', 'inclusion',
     n.Implies(condition=WIDE(n.Medication(concept='corticosteroids')), then=n.StableDose(concept='corticosteroids', duration=n.Duration(amount=2.0, unit='weeks')))),
    ('if receiving eltrombopag, stable dose for at least 4 weeks', 'inclusion',
     n.Implies(condition=n.Medication(concept='eltrombopag'), then=n.StableDose(concept='eltrombopag', duration=n.Duration(amount=4.0, unit='weeks')))),
    ('stable corticosteroids for at least 4 weeks', 'inclusion',
     n.StableDose(concept='corticosteroids', duration=n.Duration(amount=4.0, unit='weeks'))),
    ('platelet count < 30 x 10^9/L within 7 days', 'inclusion',
     n.Lab(concept='platelets', op='<', value=30.0, unit='10^9/L', lookback_days=7)),
    # units written without a slash, and the body-surface normalisation written with a space
    ('QTc interval no more than 480 ms', 'inclusion',
     n.Lab(concept='qtc', op='<=', value=480.0, unit='ms')),
    ('eGFR of at least 45 mL/min/1.73 m2', 'inclusion',
     n.Lab(concept='egfr', op='>=', value=45.0, unit='mL/min/1.73m²')),
    ('body weight above 120 kg', 'exclusion',
     n.Lab(concept='weight', op='>', value=120.0, unit='kg')),
    # a threshold on a group of labs reads the group as its most extreme member
    ('transaminases below 2 x ULN', 'inclusion',
     n.And(items=(n.Lab(concept='alt', op='<', value=2.0, relative='ULN'), n.Lab(concept='ast', op='<', value=2.0, relative='ULN')))),
    ('transaminases at least 5 x ULN', 'exclusion',
     n.Or(items=(n.Lab(concept='alt', op='>=', value=5.0, relative='ULN'), n.Lab(concept='ast', op='>=', value=5.0, relative='ULN')))),
]


@pytest.mark.parametrize(("text", "kind", "expected"), SENTENCES, ids=[s[0][:40] for s in SENTENCES])
def test_sentence_reading(text: str, kind: str, expected: n.Node) -> None:
    assert norm(parse_criterion(text, kind)) == norm(expected)



MEASUREMENTS = [
    ("{intraocular pressure} > 21 mmHg", n.Measurement(name="intraocular pressure", op=">", value=21.0, unit="mmHg")),
    ("{tumour diameter} between 1 and 4 cm", n.Measurement(name="tumour diameter", op="between", value=1.0, value2=4.0, unit="cm")),
    ("{lipase} > 2 x ULN", n.Measurement(name="lipase", op=">", value=2.0, relative="ULN")),
]


@pytest.mark.parametrize(("rule", "expected"), MEASUREMENTS)
def test_comparison_on_a_name_outside_the_vocabulary(rule: str, expected: n.Node) -> None:
    """A reviewer can keep a comparison on an unknown name; it reads, renders back, and stays unknown."""
    got = read_criterion(rule)
    assert norm(got) == norm(expected)
    assert norm(read_criterion(render(got))) == norm(expected)
    verdict = evaluate(got, Context(Patient(id="p"), date(2026, 1, 1), VOCAB))
    assert verdict.truth is Tri.UNKNOWN
    assert expected.name in verdict.missing[0]  # type: ignore[attr-defined]


def test_shared_threshold_over_two_labs() -> None:
    alt = n.Lab(concept="alt", op=">", value=3, relative="ULN")
    ast = n.Lab(concept="ast", op=">", value=3, relative="ULN")
    # free text: "ALT and AST > 3 x ULN" may mean each or any -> both readings kept
    assert norm(parse_criterion("ALT and AST > 3 x ULN", "exclusion")) == norm(
        Amb(readings=(n.And(items=(alt, ast)), n.Or(items=(alt, ast)))))
    # the rule language says which
    assert n.strip_spans(read_criterion("ALT and AST > 3 x ULN")) == n.And(items=(alt, ast))
    assert n.strip_spans(read_criterion("ALT or AST > 3 x ULN")) == n.Or(items=(alt, ast))


def test_exclusion_and_between_two_conditions_is_ambiguous() -> None:
    preg, lact = n.Condition(concept="pregnancy"), n.Condition(concept="lactation")
    got = parse_criterion("pregnancy and lactation", "exclusion")
    assert norm(got) == norm(Amb(readings=(n.And(items=(preg, lact)), n.Or(items=(preg, lact)))))
    # in an inclusion "and" is a conjunction
    assert n.strip_spans(parse_criterion("pregnancy and lactation", "inclusion")) == n.And(items=(preg, lact))


@pytest.mark.parametrize("text", ["platelet count < 30000/mm3", "platelet count < 30,000/mm3",
                                  "platelet count < 30000 /mm3", "platelet count < 30000 cells/µL"])
def test_per_cubic_millimetre_is_read_correctly_or_not_at_all(text: str) -> None:
    from eligibility.units import conversion_factor

    got = parse_criterion(text, "inclusion")
    if isinstance(got, n.Unparsed):  # today for "/mm3": sound, the coordinator reads it
        return
    assert isinstance(got, n.Lab) and got.concept == "platelets" and got.op == "<"
    assert got.unit is not None
    assert got.value * conversion_factor(got.unit, "10^9/L") == pytest.approx(30)


def test_number_words_and_thousands_separators() -> None:
    # (30,000 x 10^3/L itself is 0.03 x 10^9/L: not a platelet threshold, see test_plausible_units)
    assert n.strip_spans(parse_criterion("platelet count < 30,000 x 10^6/L")).value == 30000  # type: ignore[attr-defined]
    e11 = parse_criterion("serum creatinine more than two times the upper limit of normal", "exclusion")
    assert n.strip_spans(e11) == n.Lab(concept="creatinine", op=">", value=2, relative="ULN")


# ---- negation is never dropped -------------------------------------------------------------------

NEGATED = [
    "no history of splenectomy",
    "no prior splenectomy",
    "patients without a history of thrombosis",
    "without anticoagulants",
    "not pregnant",
    "not taking corticosteroids",
    "patients not receiving eltrombopag",
    "no aspirin or clopidogrel",
    "no history of thrombosis, heart failure, or malignancy",
    "no pregnancy or lactation",
    "no platelet transfusion within 2 weeks",
    "no myocardial infarction within 6 months",
    "no known HIV infection",
    "no active hepatitis B",
    "no evidence of thrombosis",
    "never had a myocardial infarction",
    "thrombosis and not anticoagulants",
    "not (thrombosis within 1 years)",
    "without splenectomy within 6 months",
    "no ITP for more than 12 months",
    "no ALT > 3 x ULN",
    "no HBsAg positive",
    "free of malignancy",
    "hemostatic disorders except thrombophilia",
    "hemostatic disorders other than thrombophilia",
    "thrombosis other than chronic thrombophilia",
    "any malignancy except treated skin cancer",
    "malignancy other than basal cell carcinoma",
    "anticoagulants other than heparin",
    "aspirin unless thrombosis",
    "other than aspirin, no antiplatelet drugs",
    "unless HBsAg negative, no hepatitis B",
    "heart failure, except if controlled",
    "no splenectomy and no radiotherapy",
    "men or women not pregnant",
    "platelet count < 30 x 10^9/L without platelet transfusion",
]
_NEG_WORD = re.compile(r"\b(not|no|without|except|other than|unless|never|free of)\b", re.IGNORECASE)


def _keeps_negation(rule: n.Node) -> bool:
    return any(isinstance(x, n.Not | n.Unparsed | n.Ambiguous) or getattr(x, "excluding", ()) for x in n.walk(rule))


@pytest.mark.parametrize("text", NEGATED)
@pytest.mark.parametrize("kind", ["inclusion", "exclusion"])
def test_negation_is_never_dropped(text: str, kind: str) -> None:
    assert _NEG_WORD.search(text)
    rule = parse_criterion(text, kind)
    if kind == "inclusion" and re.search(r"\w unless \w", text):
        # an inclusion's "A unless E" is met by A or by E: the exception turns into an alternative
        assert isinstance(rule, n.Or) and len(rule.items) == 2, f"{text!r} read as {render(rule)!r}"
        return
    assert _keeps_negation(rule), f"{text!r} read as {render(rule)!r}"


@pytest.mark.parametrize(("kind", "expected"), [
    ("inclusion", n.Or(items=(n.Medication(concept="aspirin"), n.Condition(concept="thrombosis")))),
    ("exclusion", n.And(items=(n.Medication(concept="aspirin"), n.Not(item=n.Condition(concept="thrombosis"))))),
])
def test_unless_waives_the_criterion(kind: str, expected: n.Node) -> None:
    """An inclusion is met by the exception; an exclusion does not exclude those with it."""
    assert n.strip_spans(parse_criterion("aspirin unless thrombosis", kind)) == expected
    unspecified = parse_criterion("aspirin unless thrombosis")
    assert isinstance(unspecified, n.Ambiguous)
    assert {n.strip_spans(r) for r in unspecified.readings} >= {expected}


def test_no_history_of_contains_not() -> None:
    rule = parse_criterion("no history of splenectomy", "inclusion")
    assert isinstance(rule, n.Not)
    assert n.strip_spans(rule) == n.Not(item=n.Procedure(concept="splenectomy"))
    assert n.strip_spans(parse_criterion("no history of thrombosis", "inclusion")) == n.Not(
        item=n.Condition(concept="thrombosis", timing="history"))


def test_negated_list_keeps_the_wide_reading() -> None:
    rule = parse_criterion("no aspirin or clopidogrel", "inclusion")
    assert isinstance(rule, n.Ambiguous)
    wide = n.Not(item=n.Or(items=(n.Medication(concept="aspirin"), n.Medication(concept="clopidogrel"))))
    assert wide in [n.strip_spans(r) for r in rule.readings]


@pytest.mark.parametrize("text", ["aspirin unless thrombosis", "thrombosis unless anticoagulants"])
def test_unless_is_not_silently_ignored(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    for node in n.walk(rule):
        for ex in getattr(node, "excluding", ()):
            main = VOCAB[node.concept].category  # type: ignore[attr-defined]
            assert VOCAB[ex].category == main, f"{render(rule)}: excluding a {VOCAB[ex].category} from a {main}"


# ---- spans ---------------------------------------------------------------------------------------

SPAN_TEXTS = ([(c["text"], c["kind"]) for c in CRITERIA_81] + [(t, k) for t, k, _ in SENTENCES]
              + [(t, "exclusion") for t in NEGATED])


@pytest.mark.parametrize(("text", "kind"), SPAN_TEXTS, ids=[t[:40] for t, _ in SPAN_TEXTS])
def test_every_span_lies_within_the_text(text: str, kind: str) -> None:
    rule = parse_criterion(text, kind)
    for node in n.walk(rule):
        assert node.span is not None, node
        start, end = node.span
        assert 0 <= start <= end <= len(text), (node, text)


@pytest.mark.parametrize("rule", RULE_STRINGS, ids=[r[:40] for r in RULE_STRINGS])
def test_every_span_lies_within_the_rule(rule: str) -> None:
    for node in n.walk(read_criterion(rule)):
        assert node.span is not None
        assert 0 <= node.span[0] <= node.span[1] <= len(rule)


def _numbers(text: str) -> list[float]:
    return [float(x.replace(",", "")) for x in re.findall(r"\d[\d,]*(?:\.\d+)?|\.\d+", text)]


LAB_TEXTS = [(t, k) for t, k, _ in SENTENCES] + [(r, "rule") for r in RULE_STRINGS]


@pytest.mark.parametrize(("text", "kind"), LAB_TEXTS, ids=[t[:40] for t, _ in LAB_TEXTS])
def test_lab_span_covers_the_number(text: str, kind: str) -> None:
    rule = read_criterion(text) if kind == "rule" else parse_criterion(text, kind)
    for node in n.walk(rule):
        if isinstance(node, n.Lab):
            assert node.span is not None
            covered = text[node.span[0]:node.span[1]]
            assert node.value in _numbers(covered), (covered, node)
            if node.value2 is not None:
                assert node.value2 in _numbers(covered), (covered, node)


def test_lab_span_exact_example() -> None:
    text = "   platelet count < 30 x 10^9/L"
    rule = parse_criterion(text)
    assert isinstance(rule, n.Lab) and rule.span is not None
    assert rule.span[0] == 3
    assert text[rule.span[0]:rule.span[1]].startswith("platelet count < 30")


# ---- round trip: rule -> render -> rule -------------------------------------------------------------

def _readable(text: str) -> bool:
    try:
        read_criterion(text)
    except ParseError:
        return False
    return True


ROUND_TRIP = RULE_STRINGS + [t for t, _, _ in SENTENCES if _readable(t)] + [
    "aspirin for > 3 consecutive days within 2 weeks", "ITP for >= 3 months", "not (splenectomy within 6 months)",
    "hemostatic disorders other than thrombophilia or thrombosis", "platelet count between 20.5 and 80 10^9/L",
    "platelet count < 30 10^9/L within 2 days", "HBsAg positive within 30 days", "age between 6 and 18 months",
]


@pytest.mark.parametrize("rule", ROUND_TRIP, ids=[r[:40] for r in ROUND_TRIP])
def test_render_round_trip(rule: str) -> None:
    first = n.strip_spans(read_criterion(rule))
    assert n.strip_spans(read_criterion(render(first))) == first


def test_round_trip_table_is_substantial() -> None:
    assert len(ROUND_TRIP) >= len(RULE_STRINGS) + 40


@pytest.mark.parametrize(("text", "kind", "expected"), SENTENCES, ids=[s[0][:40] for s in SENTENCES])
def test_free_text_reading_renders_to_an_equal_rule(text: str, kind: str, expected: n.Node) -> None:
    parsed = parse_criterion(text, kind)
    if any(isinstance(x, n.Unparsed | n.Ambiguous) for x in n.walk(parsed)):
        pytest.skip("partial readings render to {review} text")
    assert n.strip_spans(read_criterion(render(parsed))) == n.strip_spans(parsed)


@pytest.mark.parametrize("text", ["aspirin for > 2 weeks", "corticosteroids for at least 1 months"])
def test_drug_duration_in_weeks_round_trips(text: str) -> None:
    parsed = n.strip_spans(parse_criterion(text, "exclusion"))
    if isinstance(parsed, n.Ambiguous):  # a class with a borderline (corticosteroids given locally): the narrow sense
        parsed = parsed.readings[0]
    assert isinstance(parsed, n.Medication) and parsed.consecutive_days is not None
    assert parsed.consecutive_days.duration.unit in ("weeks", "months")  # read correctly ...
    assert n.strip_spans(read_criterion(render(parsed))) == parsed  # ... but not written back


SEX_AND_OTHER = [
    n.And(items=(n.Sex(sexes=("female",)), n.Condition(concept="itp"))),
    n.And(items=(n.Sex(sexes=("male",)), n.Age(op=">=", value=18))),
    n.Or(items=(n.Sex(sexes=("male",)), n.Condition(concept="thrombosis"))),
]


@pytest.mark.parametrize("rule", SEX_AND_OTHER, ids=["female-and-itp", "male-and-age", "male-or-thrombosis"])
def test_sex_joined_to_another_clause_round_trips(rule: n.Node) -> None:
    assert n.strip_spans(read_criterion(render(rule))) == rule


def test_sex_after_another_clause_reads() -> None:
    assert n.strip_spans(read_criterion("immune thrombocytopenia and female")) == n.And(
        items=(n.Condition(concept="itp"), n.Sex(sexes=("female",))))


# ---- strict reading errors -----------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", "platelet count <", "platelet count < 30 furlongs of joy",
                                  "the patient is willing", "(thrombosis", "thrombosis)", "history of",
                                  "age between 80 and 20 years", "platelet count 80-20 10^9/L"])
def test_read_criterion_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError) as info:
        read_criterion(text)
    err = info.value
    assert isinstance(err, ValueError)  # callers that only know ValueError still catch it
    assert str(err)
    if err.start is not None:
        assert 0 <= err.start <= len(text)


@pytest.mark.parametrize("text", ["", "   ", "platelet count <", "age between 80 and 20 years", "(thrombosis"])
def test_parse_criterion_returns_unparsed_instead(text: str) -> None:
    got = parse_criterion(text, "inclusion")
    assert isinstance(got, n.Unparsed)
    assert got.span is not None and 0 <= got.span[0] <= got.span[1] <= len(text)


# ---- hypothesis: never crash ---------------------------------------------------------------------

WORDS = ["platelet count", "platelets", "ALT", "AST", "transaminases", "serum creatinine", "HBsAg", "HCV-RNA",
         "anti-HBc", "HBV-DNA", "ITP", "thrombosis", "pregnancy", "lactation", "splenectomy", "aspirin",
         "corticosteroids", "anticoagulants", "heart failure", "myocardial infarction", "male", "female", "men",
         "women", "aged", "age", "years", "months", "weeks", "days", "<", "<=", "≤", ">", "≥", "=", "less than",
         "at least", "no more than", "more than", "greater than or equal to", "between", "and", "or", "and/or",
         "-", "–", "to", "x", "×", "times", "ULN", "upper limit of normal", "higher than the", "10^9/L", "109/L",
         "x 10^9/L", "K/µL", "/mm3", "mg/dL", "µmol/L", "U/L", "positive", "negative", "history of", "no", "not",
         "without", "except", "other than", "unless", "within", "prior to", "enrollment", "for",
         "consecutive days", "duration", "if", "stable", "dose", ",", ";", "(", ")", "[", "]", "{", "}", "e.g.",
         "including", "severe", "chronic", "one", "two", "or older", "0", "3", "12", "2.5", "30,000", ".5",
         "1e9", "-1", "99999999999999999999", "\n", "\t", "\\^", "%"]
criteria_text = st.lists(st.sampled_from(WORDS), min_size=0, max_size=14).map(" ".join)
any_text = st.one_of(st.text(max_size=80), criteria_text,
                     st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=4)), max_size=10).map("".join))


@settings(max_examples=200, deadline=None)
@given(any_text, st.sampled_from(["inclusion", "exclusion", "unspecified"]))
def test_parse_criterion_never_raises(text: str, kind: str) -> None:
    got = parse_criterion(text, kind)
    assert isinstance(got, n.NODE_TYPES)
    for node in n.walk(got):
        if node.span is not None:
            assert 0 <= node.span[0] <= node.span[1] <= len(text)


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_read_criterion_raises_only_parse_error(text: str) -> None:
    try:
        got = read_criterion(text)
    except ParseError:
        return
    assert isinstance(got, n.NODE_TYPES)


@settings(max_examples=200, deadline=None)
@given(criteria_text)
def test_whatever_reads_strictly_survives_the_round_trip(text: str) -> None:
    try:
        got = n.strip_spans(read_criterion(text))
    except ParseError:
        return
    if _has_known_render_bug(got):
        return  # see the two xfail tests above
    assert norm(read_criterion(render(got))) == norm(got)  # an unread qualifier's reason is prose


def _has_known_render_bug(rule: n.Node) -> bool:
    """Drug durations in weeks/months, and a sex clause joined to other clauses."""
    return (any(isinstance(x, n.Sex) for x in n.walk(rule)) and len(n.walk(rule)) > 1) or any(
        isinstance(x, n.Medication) and x.consecutive_days is not None and x.consecutive_days.duration.unit != "days"
        for x in n.walk(rule))
