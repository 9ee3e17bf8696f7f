# ruff: noqa: E501  (long lines are SQL text of the generator and the hand-written query)
"""Batch screening benchmark: a seeded synthetic registry, NCT06352281 over N patients.

    python benchmarks/batch.py --patients 100000 1000000

Prints, per size: generation and load time, compiled-plan screening time, peak memory (RSS of
this process, DuckDB included), the Python evaluator's time on a sample extrapolated to N, and the
ratio to a hand-written DuckDB query for the main checks. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from eligibility.api import screen
from eligibility.batch import load_registry, run_batch
from eligibility.trial import load_trial

AS_OF = date(2026, 1, 15)

# (loinc code, unit, low, high): realistic spellings of each lab's units.
LABS = [
    ("777-3", "10*3/uL", 5, 400),
    ("26515-7", "10^9/L", 5, 400),
    ("1742-6", "U/L", 5, 200),
    ("1920-8", "U/L", 5, 200),
    ("2160-0", "mg/dL", 0.3, 3.0),
    ("14682-9", "umol/L", 30, 250),
    ("718-7", "g/dL", 8, 17),
    ("6690-2", "10*3/uL", 2, 15),
    ("2345-7", "mg/dL", 60, 200),
    ("2823-3", "mmol/L", 3, 6),
]


def generate(folder: Path, patients: int, seed: float = 0.42) -> None:
    """Write patients/observations/conditions/medications/procedures Parquet files (DuckDB, no Python rows)."""
    con = duckdb.connect()
    con.execute(f"SELECT setseed({seed})")
    labs = ", ".join(f"('{c}', '{u}', {lo}, {hi})" for c, u, lo, hi in LABS)
    con.execute(f"CREATE TABLE labs(code, unit, lo, hi) AS VALUES {labs}")
    con.execute(
        f"""COPY (SELECT 'p' || i AS patient_id, DATE '1950-01-01' + CAST(random() * 25000 AS INTEGER) AS birth_date,
                   CASE WHEN random() < 0.5 THEN 'female' ELSE 'male' END AS sex FROM range({patients}) t(i))
            TO '{folder}/patients.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || (i // 20) AS patient_id, 'http://loinc.org' AS system, l.code,
                   round(l.lo + random() * (l.hi - l.lo), 2) AS value, l.unit,
                   DATE '{AS_OF}' - CAST(random() * 200 AS INTEGER) AS effective,
                   NULL::DOUBLE AS ref_low, CASE WHEN random() < 0.3 THEN 40.0 END AS ref_high
                 FROM range({patients * 20}) t(i) JOIN labs l ON l.rowid = CAST(hash(i) % 10 AS BIGINT))
            TO '{folder}/observations.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || CAST(floor(random() * {patients}) AS BIGINT) AS patient_id, 'icd10cm' AS system,
                   ['D69.3', 'I21.9', 'C50.9', 'I10', 'E11.9', 'D68.5', 'O80'][1 + CAST(floor(random() * 7) AS INT)] AS code,
                   DATE '{AS_OF}' - CAST(random() * 3000 AS INTEGER) AS onset, NULL::DATE AS abatement,
                   CASE WHEN random() < 0.8 THEN 'active' ELSE 'resolved' END AS status
                 FROM range({patients * 2}))
            TO '{folder}/conditions.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || CAST(floor(random() * {patients}) AS BIGINT) AS patient_id, 'atc' AS system,
                   ['H02AB07', 'B01AC06', 'M01AE01', 'C09AA03', 'A10BA02'][1 + CAST(floor(random() * 5) AS INT)] AS code,
                   DATE '{AS_OF}' - CAST(random() * 400 AS INTEGER) AS start,
                   CASE WHEN random() < 0.5 THEN DATE '{AS_OF}' - CAST(random() * 30 AS INTEGER) END AS "end"
                 FROM range({patients * 2}))
            TO '{folder}/medications.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || CAST(floor(random() * {patients}) AS BIGINT) AS patient_id, 'snomed' AS system,
                   '234319005' AS code, DATE '{AS_OF}' - CAST(random() * 5000 AS INTEGER) AS performed
                 FROM range({max(patients // 5, 1)}))
            TO '{folder}/procedures.parquet' (FORMAT parquet)"""
    )


HAND_QUERY = """
WITH pat AS (SELECT patient_id, sex, date_diff('year', birth_date, DATE '{as_of}')
               - CASE WHEN strftime(birth_date, '%m%d') > '{mmdd}' THEN 1 ELSE 0 END AS age FROM '{folder}/patients.parquet'),
plt AS (SELECT patient_id, arg_max(value * CASE unit WHEN '10*3/uL' THEN 1 WHEN '10^9/L' THEN 1 END, effective) AS v
        FROM '{folder}/observations.parquet' WHERE code IN ('777-3', '26515-7') AND effective BETWEEN DATE '{as_of}' - 90 AND DATE '{as_of}'
        GROUP BY patient_id),
alt AS (SELECT patient_id, arg_max(value / COALESCE(ref_high, 41), effective) AS r FROM '{folder}/observations.parquet'
        WHERE code IN ('1742-6', '1920-8') AND effective BETWEEN DATE '{as_of}' - 90 AND DATE '{as_of}' GROUP BY patient_id),
itp AS (SELECT DISTINCT patient_id FROM '{folder}/conditions.parquet' WHERE code = 'D69.3' AND status = 'active'
        AND onset < DATE '{as_of}' - 365),
mi AS (SELECT DISTINCT patient_id FROM '{folder}/conditions.parquet' WHERE code LIKE 'I21%' AND onset >= DATE '{as_of}' - 364),
ster AS (SELECT DISTINCT patient_id FROM '{folder}/medications.parquet' WHERE code LIKE 'H02AB%' AND start > DATE '{as_of}' - 14)
SELECT pat.patient_id, pat.age BETWEEN 8 AND 75 AS age_ok, plt.v < 30 AS plt_ok, itp.patient_id IS NOT NULL AS itp_ok,
       mi.patient_id IS NULL AS mi_ok, alt.r <= 3 AS alt_ok, ster.patient_id IS NULL AS ster_ok
FROM pat LEFT JOIN plt USING (patient_id) LEFT JOIN alt USING (patient_id) LEFT JOIN itp USING (patient_id)
     LEFT JOIN mi USING (patient_id) LEFT JOIN ster USING (patient_id)
"""


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
        t0 = time.perf_counter()
        hand = duckdb.connect()
        hand.execute("CREATE TABLE hand AS " + HAND_QUERY.format(folder=folder, as_of=AS_OF, mmdd=f"{AS_OF:%m%d}"))
        t_hand = time.perf_counter() - t0
        ids = [
            r[0]
            for r in reg.con.execute(
                f"SELECT patient_id FROM '{folder}/patients.parquet' USING SAMPLE {sample} ROWS"
            ).fetchall()
        ]
        natives = [reg.patient(pid) for pid in ids]
        t0 = time.perf_counter()
        for p in natives:
            screen(trial, p, as_of=AS_OF)
        t_py = (time.perf_counter() - t0) / len(natives) * patients
        verdicts = result.attrition[0].verdicts
    print(
        f"{patients:>9,} patients: generate {t_gen:6.1f} s | load+rejects {t_load:6.1f} s | "
        f"screen (compile+run+write) {t_screen:6.1f} s | peak RSS {peak_mb():7.0f} MB"
    )
    print(
        f"{'':>9}  Python evaluator ~{t_py:8.0f} s extrapolated from {len(natives)} patients "
        f"-> speed-up x{t_py / t_screen:,.0f} (x{t_py / (t_screen + t_load):,.0f} including load)"
    )
    print(
        f"{'':>9}  hand-written DuckDB query over the Parquet files (6 of the checks) {t_hand:5.2f} s -> "
        f"compiled plan / hand = {t_screen / t_hand:4.1f} (load+plan / hand = {(t_load + t_screen) / t_hand:4.1f})"
    )
    print(f"{'':>9}  verdicts {verdicts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--sample", type=int, default=500, help="patients screened by the Python evaluator")
    args = parser.parse_args()
    for size in args.patients:
        run(size, args.sample)


if __name__ == "__main__":
    main()
