"""Batch screening against the Python evaluator and a hand-written query: NCT06352281 over N patients.
(The scale matrix -- sizes x libraries, medians of fresh runs -- is benchmarks/batch.py.)

    python benchmarks/batch_compare.py --patients 100000 1000000
    python benchmarks/batch_compare.py --omop --patients 1000000     # a generated OMOP CDM (issue 14)

Prints, per size: generation, load (+ rejects report) and screening (compile + run + sorted Parquet)
times, peak memory (RSS of this process, DuckDB included), the Python evaluator's time on a seeded
sample of the same patients extrapolated to N, and the plan against a hand-written DuckDB query.

The hand-written query computes the same 20 computable criteria over the same staged tables with the
same code lists (descriptor keys from the vocabulary) and writes the same kind of output, as a person
would write it: most recent lab by ``arg_max``, one GROUP BY per record table, unit factors and adult
ULNs typed in. It is simpler than the evaluator in these ways (so it is, if anything, favoured): E4
counts single intervals of > 3 days in the 2 weeks (no merging of touching intervals), pregnancy and
lactation are "active and not abated" (no end events, tests or the 300-day plausibility rule), the
ITP duration is onset more than 365 days ago, paediatric reference ranges are left unknown, and
absent data is not distinguished from undated data. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from batch_data import AS_OF, generate, generate_omop

from eligibility.api import screen
from eligibility.batch import Registry, load_registry, run_batch
from eligibility.concepts import default_vocabulary
from eligibility.evaluate import DEFAULT_LOOKBACK_DAYS, Context
from eligibility.patient import Patient
from eligibility.trial import Trial, load_trial

# The same criteria of NCT06352281 as a person would write them in DuckDB over the same staged tables
# (see the module docstring for what is simplified). {k_<concept>} are descriptor keys resolved with the
# vocabulary, exactly the constants the compiled plan gets; unit factors and adult ULNs are typed in.
HAND_QUERY = """
WITH pat AS (
  SELECT patient_id, sex, CASE WHEN birth_date IS NOT NULL THEN {year} - year(birth_date)
         - CASE WHEN month(birth_date) * 100 + day(birth_date) > {mmdd} THEN 1 ELSE 0 END END AS age
  FROM patients),
last AS (
  SELECT patient_id,
    CASE WHEN rkey IN ({k_platelets}) THEN 'plt' WHEN rkey IN ({k_alt}) THEN 'alt'
         WHEN rkey IN ({k_ast}) THEN 'ast' ELSE 'cre' END AS lab,
    arg_max_null(value, (effective, -rn)) AS value, arg_max_null(unit, (effective, -rn)) AS unit,
    arg_max_null(ref_high, (effective, -rn)) AS ref_high
  FROM observations
  WHERE rkey IN ({k_platelets}, {k_alt}, {k_ast}, {k_creatinine}) AND value IS NOT NULL
    AND effective BETWEEN DATE '{as_of}' - 90 AND DATE '{as_of}'
  GROUP BY ALL),
labs AS (
  SELECT l.patient_id,
    max(CASE WHEN lab = 'plt' THEN value * CASE unit WHEN '10*3/uL' THEN 1 WHEN '10^9/L' THEN 1 END END) AS plt,
    max(CASE WHEN lab = 'alt' THEN value * CASE WHEN unit IN ('U/L', 'IU/L') THEN 1 END
        / CASE WHEN ref_high > 0 THEN ref_high WHEN p.age < 18 THEN NULL
               WHEN p.sex = 'male' THEN 41 WHEN p.sex = 'female' THEN 33 END END) AS alt_uln,
    max(CASE WHEN lab = 'ast' THEN value * CASE WHEN unit IN ('U/L', 'IU/L') THEN 1 END
        / CASE WHEN ref_high > 0 THEN ref_high WHEN p.age >= 1 THEN 40 END END) AS ast_uln,
    max(CASE WHEN lab = 'cre' THEN CASE WHEN ref_high > 0 THEN value / ref_high ELSE
        value * CASE unit WHEN 'mg/dL' THEN 1 WHEN 'umol/L' THEN 0.011312 END
        / CASE WHEN p.age < 18 THEN NULL WHEN p.sex = 'male' THEN 1.22 WHEN p.sex = 'female' THEN 1.06 END END END)
      AS cre_uln
  FROM last l JOIN pat p USING (patient_id) GROUP BY l.patient_id),
tests AS (  -- newest qualitative result in the window
  SELECT patient_id, rkey IN ({k_hiv_test}) AS hiv, rkey IN ({k_hbsag}) AS hbsag, rkey IN ({k_anti_hbc}) AS hbc,
         rkey IN ({k_hbv_dna}) AS dna, rkey IN ({k_hcv_rna}) AS hcv, arg_max(result, (effective, -rn)) AS result
  FROM observations WHERE rkey IN ({k_hiv_test}, {k_hbsag}, {k_anti_hbc}, {k_hbv_dna}, {k_hcv_rna})
    AND result IS NOT NULL AND effective BETWEEN DATE '{as_of}' - 90 AND DATE '{as_of}' GROUP BY ALL),
virus AS (
  SELECT patient_id, bool_or(hiv AND result = 'positive') AS hiv, bool_or(hbsag AND result = 'positive') AS hbsag,
         bool_or(hbc AND result = 'positive') AND bool_or(dna AND result = 'positive') AS hbv,
         bool_or(hcv AND result = 'positive') AS hcv
  FROM tests GROUP BY patient_id),
cond AS (  -- current = active status and not abated; history = any record up to as_of
  SELECT patient_id,
    bool_or(rkey IN ({k_itp}) AND cur AND onset < DATE '{as_of}' - 365) AS itp_chronic,
    bool_or(rkey IN ({k_secondary_itp}) AND cur) AS secondary_itp,
    bool_or(rkey IN ({k_hemostatic_disorder}) AND cur) AS hemostatic,
    bool_or(rkey IN ({k_pseudothrombocytopenia})) AS pseudo,
    bool_or(rkey IN ({k_malignancy}) AND cur) AS malignancy, bool_or(rkey IN ({k_malignancy})) AS cancer_history,
    bool_or(rkey IN ({k_heart_failure}) AND coalesce(abatement, DATE '{as_of}') >= DATE '{as_of}' - 364) AS hf_year,
    bool_or(rkey IN ({k_myocardial_infarction}) AND onset >= DATE '{as_of}' - 364) AS mi_year,
    bool_or(rkey IN ({k_unstable_angina}) AND onset >= DATE '{as_of}' - 364) AS angina_year,
    bool_or(rkey IN ({k_thrombosis})) AS thrombosis, bool_or(rkey IN ({k_acute_infection}) AND cur) AS infection,
    bool_or(rkey IN ({k_hiv_infection}) AND cur) AS hiv, bool_or(rkey IN ({k_allergy})) AS allergy,
    bool_or(rkey IN ({k_pregnancy}, {k_lactation}) AND cur) AS pregnant,
    bool_or(rkey IN ({k_mental_illness}, {k_alcohol_addiction}, {k_drug_addiction})) AS mental
  FROM (SELECT *, status IN ('active', 'recurrence', 'relapse')
                  AND (abatement IS NULL OR abatement > DATE '{as_of}') AS cur
        FROM conditions WHERE onset IS NULL OR onset <= DATE '{as_of}')
  GROUP BY patient_id),
med AS (
  SELECT patient_id,
    bool_or(rkey IN ({k_corticosteroids}) AND start_date <= DATE '{as_of}'
            AND coalesce(end_date, DATE '{as_of}') >= DATE '{as_of}') AS steroid_now,
    bool_or(rkey IN ({k_corticosteroids}) AND (start_date > DATE '{as_of}' - 14 AND start_date <= DATE '{as_of}'
            OR end_date > DATE '{as_of}' - 14 AND end_date < DATE '{as_of}')) AS steroid_changed,
    bool_or(rkey IN ({k_platelet_function_drugs}, {k_anticoagulants}) AND start_date <= DATE '{as_of}'
            AND date_diff('day', greatest(start_date, DATE '{as_of}' - 13),
                          least(coalesce(end_date, DATE '{as_of}'), DATE '{as_of}')) + 1 > 3) AS antiplatelet,
    bool_or(rkey IN ({k_cytotoxic_chemotherapy}) AND start_date <= DATE '{as_of}') AS chemo
  FROM medications GROUP BY patient_id),
proc AS (
  SELECT patient_id, bool_or(rkey IN ({k_splenectomy})) AS splenectomy, bool_or(rkey IN ({k_radiotherapy})) AS radio,
         bool_or(rkey IN ({k_cardiac_angioplasty}) AND performed >= DATE '{as_of}' - 364) AS angioplasty_year
  FROM procedures WHERE performed IS NULL OR performed <= DATE '{as_of}' GROUP BY patient_id),
crit AS (
  SELECT p.patient_id, p.sex, p.age BETWEEN 8 AND 75 AS age_ok,
    CASE WHEN p.sex IN ('male', 'female') THEN p.age BETWEEN 8 AND 75 END AS i2,
    CASE WHEN c.itp_chronic THEN TRUE END AS i3, l.plt < 30 AS i5,
    NOT coalesce(m.steroid_now, FALSE) OR NOT coalesce(m.steroid_changed, FALSE) AS i6,
    CASE WHEN c.secondary_itp THEN TRUE END AS e1, CASE WHEN r.splenectomy THEN NULL ELSE FALSE END AS e2,
    coalesce(c.hemostatic, FALSE) AS e3, coalesce(m.antiplatelet, FALSE) AS e4, coalesce(c.pseudo, FALSE) AS e5,
    coalesce(c.malignancy OR c.cancer_history AND m.chemo OR r.radio, FALSE) AS e6,
    CASE WHEN c.mi_year OR r.angioplasty_year OR c.angina_year THEN TRUE END AS e7,
    CASE WHEN c.thrombosis THEN TRUE END AS e8, CASE WHEN c.infection THEN TRUE END AS e9,
    l.alt_uln > 3 OR l.ast_uln > 3 AS e10, l.cre_uln > 2 AS e11,
    CASE WHEN c.hiv OR v.hiv OR v.hbsag OR v.hbv OR v.hcv THEN TRUE END AS e13,
    CASE WHEN c.allergy THEN NULL ELSE FALSE END AS e14,
    CASE WHEN p.sex = 'male' THEN FALSE ELSE coalesce(c.pregnant, FALSE) END AS e15, coalesce(c.mental, FALSE) AS e16
  FROM pat p LEFT JOIN labs l USING (patient_id) LEFT JOIN cond c USING (patient_id)
    LEFT JOIN med m USING (patient_id) LEFT JOIN proc r USING (patient_id) LEFT JOIN virus v USING (patient_id))
SELECT patient_id, '{trial}' AS trial,
  CASE WHEN NOT age_ok OR NOT i2 OR NOT i3 OR NOT i5 OR NOT i6 OR e1 OR e2 OR e3 OR e4 OR e5 OR e6 OR e7 OR e8
            OR e9 OR e10 OR e11 OR e13 OR e14 OR e15 OR e16 THEN 'ineligible' ELSE 'needs-review' END AS verdict,
  {statuses}
FROM crit
"""

HAND_CRITERIA = {
    "age": ("age_ok", True),
    "I2": ("i2", True),
    "I3": ("i3", True),
    "I5": ("i5", True),
    "I6": ("i6", True),
    **{f"E{i}": (f"e{i}", False) for i in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16)},
}


def hand_query(reg: Registry, trial: Trial) -> str:
    """HAND_QUERY with the descriptor keys of each concept (the vocabulary's own code resolution)."""
    keys: dict[str, str] = {}
    for table in ("observations", "conditions", "medications", "procedures"):
        # A fresh context per table: it caches each record's concepts by the record's identity.
        ctx = Context(Patient(id="hand"), AS_OF, default_vocabulary(), False, DEFAULT_LOOKBACK_DAYS)
        desc = reg.descriptors(table)
        for concept in default_vocabulary().concepts:
            chosen = {id(r) for r in ctx.matching([r for _, r in desc], concept)}
            found = [str(k) for k, r in desc if id(r) in chosen]
            if found or f"k_{concept}" not in keys:
                keys[f"k_{concept}"] = ", ".join(found) or "NULL"
    statuses = []
    for crit in trial.criteria:
        col, inclusion = HAND_CRITERIA.get(crit.id, ("NULL", True))
        good, bad = ("pass", "fail") if inclusion else ("fail", "pass")
        statuses.append(
            f"CASE WHEN {col} THEN '{good}' WHEN NOT {col} THEN '{bad}' ELSE 'unknown' END AS \"status_{crit.id}\""
        )
    return HAND_QUERY.format(
        as_of=AS_OF,
        year=AS_OF.year,
        mmdd=AS_OF.month * 100 + AS_OF.day,
        trial=trial.id,
        statuses=",\n  ".join(statuses),
        **keys,
    )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(patients: int, sample: int) -> None:
    trial = load_trial("NCT06352281")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        generate(folder, patients)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        reg = load_registry(folder)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = run_batch(reg, [trial], AS_OF, out=folder / "results.parquet")
        t_screen = time.perf_counter() - t0
        peak_batch = peak_mb()
        # The plan's query alone vs the hand-written query alone, each into a temporary table, then
        # each written as sorted Parquet: the same work on the same staged tables.
        plan_sql = result.compiled[0].sql("duckdb")
        t0 = time.perf_counter()
        reg.con.execute(f"CREATE OR REPLACE TEMP TABLE plan_again AS {plan_sql}")
        t_plan_q = time.perf_counter() - t0
        t0 = time.perf_counter()
        reg.con.execute(f"COPY (SELECT * FROM plan_again ORDER BY patient_id) TO '{folder}/plan.parquet'")
        t_plan_w = time.perf_counter() - t0
        reg.con.execute("DROP TABLE plan_again")
        hand_sql = hand_query(reg, trial)
        t0 = time.perf_counter()
        reg.con.execute(f"CREATE OR REPLACE TEMP TABLE hand AS {hand_sql}")
        t_hand_q = time.perf_counter() - t0
        t0 = time.perf_counter()
        reg.con.execute(f"COPY (SELECT * FROM hand ORDER BY patient_id) TO '{folder}/hand.parquet'")
        t_hand_w = time.perf_counter() - t0
        agree = reg.con.execute(
            "SELECT COUNT(*), SUM(CASE WHEN h.verdict = r.verdict THEN 1 ELSE 0 END) "
            "FROM hand h JOIN result_0 r USING (patient_id)"
        ).fetchone()
        assert agree is not None
        # The Python evaluator over a seeded sample of the same patients, rebuilt as native models
        # before the clock starts (so DuckDB look-ups are not counted against it).
        ids = [
            r[0]
            for r in reg.con.execute(
                f"SELECT patient_id FROM patients USING SAMPLE reservoir({sample} ROWS) REPEATABLE (42)"
            ).fetchall()
        ]
        natives = [reg.patient(pid) for pid in ids]
        t0 = time.perf_counter()
        for p in natives:
            screen(trial, p, as_of=AS_OF)
        t_py = (time.perf_counter() - t0) / len(natives) * patients
        verdicts = result.attrition[0].verdicts
    print(
        f"{patients:>9,} patients: generate {t_gen:5.1f} s | load+rejects {t_load:5.1f} s | "
        f"screen (compile+run+write) {t_screen:5.1f} s | load+screen {t_load + t_screen:5.1f} s | "
        f"peak RSS {peak_batch:5.0f} MB after the batch run, {peak_mb():5.0f} MB at the end"
    )
    print(
        f"{'':>9}  Python evaluator ~{t_py:7.0f} s extrapolated from {len(natives)} of the same patients "
        f"-> speed-up x{t_py / t_screen:,.0f} over screen (x{t_py / (t_screen + t_load):,.0f} over load+screen)"
    )
    print(
        f"{'':>9}  query only: plan {t_plan_q:5.2f} s, hand-written {t_hand_q:5.2f} s -> plan / hand "
        f"{t_plan_q / t_hand_q:4.2f}; query + sorted Parquet: plan {t_plan_q + t_plan_w:5.2f} s, hand "
        f"{t_hand_q + t_hand_w:5.2f} s -> {(t_plan_q + t_plan_w) / (t_hand_q + t_hand_w):4.2f}"
    )
    print(f"{'':>9}  verdicts {verdicts}; hand-written verdict agrees on {agree[1]:,} of {agree[0]:,} patients")


def run_omop(persons: int) -> None:
    """Load + screen of a generated OMOP CDM (NCT06352281), next to the long-format figures."""
    trial = load_trial("NCT06352281")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        generate_omop(folder, persons)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        reg = load_registry(folder)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = run_batch(reg, [trial], AS_OF, out=folder / "results.parquet")
        t_screen = time.perf_counter() - t0
        rejects = reg.reject_summary()
        verdicts = result.attrition[0].verdicts
    print(
        f"{persons:>9,} OMOP persons: generate {t_gen:5.1f} s | load (CDM -> staged, vocabulary, rejects) "
        f"{t_load:5.1f} s | screen {t_screen:5.1f} s | load+screen {t_load + t_screen:5.1f} s | "
        f"peak RSS {peak_mb():5.0f} MB"
    )
    print(f"{'':>9}  verdicts {verdicts}; rejects {[(r, k) for _, r, k in rejects]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--sample", type=int, default=500, help="patients screened by the Python evaluator")
    parser.add_argument("--omop", action="store_true", help="an OMOP CDM registry instead of the long format")
    args = parser.parse_args()
    for size in args.patients:
        if args.omop:
            run_omop(size)
        else:
            run(size, args.sample)


if __name__ == "__main__":
    main()
