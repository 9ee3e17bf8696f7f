"""Hostile-input probe of the command line (issue 15): every probe must end in a clear message, never a
traceback, a hang or a wrong exit code. Prints one line per failure and the totals; figures only.

Run: ``python benchmarks/probe_hardening.py [--fuzz N]``

Each probe is a command with a built input (bad patient files, rule files, criteria texts, CT.gov JSON,
registries, outputs, results files) and the exit codes it may end with (2: refused with a message;
1: some inputs of a folder refused; 0: done). A probe fails when the command raises (a traceback), takes
longer than 30 s (a hang), or ends with another exit code. ``--fuzz N`` also feeds N random criterion
and unit strings (seeded) through the parser, the extractor and the unit layer and counts exceptions
that are not the project's own.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script, this folder is sys.path[0]: benchmarks/fhir.py would shadow the fhir.resources package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from typer.testing import CliRunner  # noqa: E402

from eligibility.cli import app  # noqa: E402
from eligibility.errors import EligibilityError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PATIENT = ROOT / "examples" / "patient-eligible.json"
RULES = "trial: X1\ncriteria:\n  - id: A\n    kind: inclusion\n    text: Age 18 or over\n    rule: age >= 18 years\n"


class _Timeout(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise _Timeout


def _patient_files(d: Path) -> list[Path]:
    raw = PATIENT.read_bytes()
    cases: dict[str, bytes] = {
        "empty.json": b"",
        "null.json": b"null",
        "list.json": b"[1, 2]",
        "trunc.json": raw[: len(raw) // 2],
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "deepobj.json": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        "bigint.json": b'{"id": "p", "birth_date": ' + b"9" * 5000 + b"}",
        "bigfloat.json": b'{"id": "p", "birth_date": "1980-01-01", "sex": "female", "observations": [{"concept": "platelets", "value": 1e999, "unit": "10^9/L"}]}',  # noqa: E501
        "surrogate.json": b'{"id": "p\\udc00"}',
        "latin1.json": b'{"id": "caf\xe9"}',
        "bom.json": b"\xef\xbb\xbf" + raw,
        "utf16.json": raw.decode().encode("utf-16"),
        "nul.json": raw.replace(b'"id"', b'"i\x00d"'),
        "gz-corrupt.json.gz": b"\x1f\x8b junk",
        "gz-trunc.json.gz": gzip.compress(raw)[:50],
        "gz-bomb.json.gz": gzip.compress(b" " * 300_000_000),
        "wrongtypes.json": b'{"id": 5, "birth_date": [], "sex": {}, "observations": "x"}',
        "unit-digit.json": b'{"id": "p", "birth_date": "1980-01-01", "sex": "female", "observations": [{"concept": "platelets", "value": 100, "unit": "g/L\xd9\xa3"}]}',  # noqa: E501
        "unit-power.json": b'{"id": "p", "birth_date": "1980-01-01", "sex": "female", "observations": [{"concept": "hemoglobin", "value": 10, "unit": "g/dL400"}]}',  # noqa: E501
        "resource.json": b'{"resourceType": "Patient", "id": "p"}',
        "bundle-bad.json": b'{"resourceType": "Bundle", "entry": [{"resource": 5}, {"resource": {"resourceType": "Observation"}}]}',  # noqa: E501
    }
    out = []
    for name, data in cases.items():
        (d / name).write_bytes(data)
        out.append(d / name)
    os.mkfifo(d / "fifo.json")
    out += [d / "fifo.json", Path("/dev/zero"), Path("/dev/null"), d / "missing.json", d]
    return out


def _rule_files(d: Path) -> list[Path]:
    cases: dict[str, bytes] = {
        "empty.yaml": b"",
        "list.yaml": b"- a\n- b\n",
        "bomb.yaml": b'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
        b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ntrial: X\ncriteria: [*d]\n",
        "latin1.yaml": RULES.replace("Age", "\xc2ge").encode("latin-1"),
        "hugeint.yaml": (RULES + "version: " + "9" * 5000 + "\n").encode(),
        "deep.yaml": b"[" * 100_000 + b"]" * 100_000,
        "tab.yaml": b"trial: X\n\tcriteria: []\n",
        "title.yaml": ("title: {a: 1}\n" + RULES).encode(),
        "types.yaml": b"trial: X\ncriteria:\n  - {id: [1], kind: 5, text: t, rule: r, note: {a: 1}}\n",
        "nested.yaml": (RULES.replace("age >= 18 years", "(" * 300 + "age >= 18 years" + ")" * 300)).encode(),
        "longrule.yaml": (RULES.replace("age >= 18 years", "age >= 18 years and " * 2000 + "age >= 18 years")).encode(),
        "surrogate.yaml": RULES.replace("Age 18 or over", '"Age \\ud800"').encode(),
        "python.yaml": b"!!python/object/apply:os.system ['true']\n",
        "criteria.txt": ("Inclusion Criteria:\n* " + "Hemoglobin >= 9 g/dL; " * 20_000 + "\n").encode(),
        "odd.txt": "Inclusion Criteria:\n* Total choleſterol leſs than 200 mg/dL\n* HEMOGLOBİN ≥ 9 g/L٣\n".encode(),
        "crlf.txt": b"Inclusion Criteria:\r\r\n* Age >= 18 years\r\r\n",
        "ctgov-bad.json": b'{"protocolSection": {"eligibilityModule": {"eligibilityCriteria": 5}}}',
        "ctgov-deep.json": b'{"studies": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    }
    out = []
    for name, data in cases.items():
        (d / name).write_bytes(data)
        out.append(d / name)
    os.mkfifo(d / "fifo.yaml")
    return [*out, d / "fifo.yaml"]


def _registries(d: Path) -> list[tuple[str, list[str]]]:
    basic = ROOT / "tests" / "fixtures" / "registry" / "basic"
    reg = d / "reg"
    shutil.copytree(basic, reg)
    probes: list[tuple[str, list[str]]] = [
        ("out = input", ["--registry", str(reg), "--out", str(reg / "patients.csv")]),
        ("out = folder", ["--registry", str(reg), "--out", str(d)]),
        ("out unwritable", ["--registry", str(reg), "--out", "/proc/x/r.parquet"]),
        ("trial twice", ["--registry", str(reg), "--trial", "NCT06352281", "--out", str(d / "o" / "r.parquet")]),
        ("no registry", ["--registry", str(d / "none"), "--out", str(d / "o" / "r.parquet")]),
    ]
    bad_tables = {
        "both": {"patients.csv": "patient_id\np1\n", "patients.parquet": "PAR1"},
        "corrupt-parquet": {"patients.parquet": "PAR1 nope"},
        "crcrlf": {"patients.csv": "patient_id,birth_date,sex\r\r\np1,1980-01-01,male\r\r\n"},
        "longline": {"patients.csv": "patient_id,birth_date,sex\np1," + "9" * 3_000_000 + ",male\n"},
        "nopid": {"patients.csv": "id,birth_date\np1,1980-01-01\n"},
        "unit": {
            "patients.csv": "patient_id,birth_date,sex\np1,1980-01-01,male\n",
            "observations.csv": "patient_id,system,code,value,unit,effective\np1,http://loinc.org,718-7,12,g/L٣,2025-01-01\n",
        },
        "gz": {"patients.csv.gz": "junk"},
        "quote": {"patients.csv": 'patient_id,birth_date,sex\n"p1,1980-01-01,male\np2,1980-01-01,male\n'},
        "ndjson-deep": {
            "Patient.ndjson": '{"resourceType":"Patient","id":"p1","x":' + "[" * 50_000 + "]" * 50_000 + "}\n"
        },
        "ndjson-gz": {"Patient.ndjson": '{"resourceType":"Patient","id":"p1"}\n', "Condition.ndjson.gz": "junk"},
    }
    for name, files in bad_tables.items():
        folder = d / name
        folder.mkdir()
        for fname, text in files.items():
            (folder / fname).write_text(text, encoding="utf-8")
        probes.append((name, ["--registry", str(folder), "--out", str(d / "o" / f"{name}.parquet")]))
    return probes


def _second_round(d: Path) -> list[tuple[str, list[str], set[int]]]:
    """The hostile inputs of the second round (issue 15 leftovers): (label, command, allowed exit codes)."""
    import json

    pat = json.loads(PATIENT.read_text(encoding="utf-8"))
    screen = ["screen", "--trial", "NCT06352281", "--as-of", "2026-01-15", "--patient"]
    batch = ["batch", "--trial", "NCT06352281", "--as-of", "2026-01-15", "--registry"]

    def w(name: str, data: str | bytes) -> str:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        return str(p)

    bundle_of_bundles = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Patient", "id": "p1"}}]}}  # noqa: E501
    ]}  # fmt: skip
    no_subject = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1"}},
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": {"display": "J. Smith"},
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "84114007"}]}}},
    ]}  # fmt: skip
    (d / "loop1.json").symlink_to(d / "loop2.json")
    (d / "loop2.json").symlink_to(d / "loop1.json")
    probes: list[tuple[str, list[str], set[int]]] = [
        ("BOM rule file", ["parse", w("bom.yaml", "\ufeff" + RULES)], {0}),
        ("CRLF rule file", ["parse", w("crlf.yaml", RULES.replace("\n", "\r\n"))], {0}),
        ("YAML key twice", ["parse", w("dup.yaml", RULES + "trial: X2\n")], {2}),
        ("criteria a mapping", ["parse", w("map.yaml", "trial: X\ncriteria: {a: 1}\n")], {2}),
        ("empty criteria text", ["parse", "--summary", w("empty.txt", "")], {0}),
        ("empty criteria text extract", ["extract", w("empty2.txt", "")], {0}),
        ("BOM-only criteria text", ["parse", "--summary", w("bomonly.txt", "\ufeff")], {0}),
        ("Bundle of Bundles", [*screen, w("bb.json", json.dumps(bundle_of_bundles))], {0}),
        ("Condition naming no patient", [*screen, w("nosubj.json", json.dumps(no_subject))], {2}),
        ("patient id with NUL", [*screen, w("nul.json", json.dumps({**pat, "id": "p\u0000x"}))], {0}),
        ("patient id with newline", [*screen, w("nl.json", json.dumps({**pat, "id": "p1\nverdict: eligible"}))], {0}),
        ("JSON key twice", [*screen, w("dup.json", '{"id": "a", "id": "b", "birth_date": "1980-01-01"}')], {2}),
        ("list of patients", [*screen, w("list.json", json.dumps([pat, pat]))], {2}),
        ("symlink loop", [*screen, str(d / "loop1.json")], {2}),
        ("value as a string", [*screen, w("vstr.json", json.dumps({**pat, "observations": [
            {"concept": "platelets", "value": "150", "unit": "10^9/L", "effective": "2026-01-01"}]}))], {0, 2}),
    ]  # fmt: skip
    tables = {
        "header-only": {"patients.csv": "patient_id,birth_date,sex\n"},
        "bom-crlf": {"patients.csv": "\ufeffpatient_id,birth_date,sex\r\np1,1980-01-01,male\r\n"},
        "mixed-endings": {"patients.csv": "patient_id,birth_date,sex\np1,1980-01-01,male\r\np2,1980-01-01,x,y\r\n"},
        "id-newline": {"patients.csv": 'patient_id,birth_date,sex\n"p1\nverdict: eligible",1980-01-01,male\n'},
        "extra-values": {"patients.csv": "patient_id,birth_date,sex\np1,1980-01-01,male,a,b,c,d,e,f\n"},
        "ndjson-partial": {
            "Patient.ndjson": '{"resourceType":"Patient","id":"p1"}\n{"resourceType":"Patient","id":"p2'
        },
        "ndjson-numeric-id": {"Patient.ndjson": '{"resourceType":"Patient","id":5}\n'},
    }
    bad_file = {"mixed-endings"}
    for name, files in tables.items():
        for fname, text in files.items():
            w(f"{name}/{fname}", text)
        probes.append((f"batch {name}", [*batch, str(d / name), "--out", str(d / "o" / f"{name}.parquet")],
                       {2} if name in bad_file else {0}))  # fmt: skip
    (d / "folder-as-table" / "patients.csv").mkdir(parents=True)
    probes.append(
        ("batch patients.csv a folder", [*batch, str(d / "folder-as-table"), "--out", str(d / "o" / "f.parquet")], {2})
    )
    return probes


def _run(runner: CliRunner, args: list[str], allowed: set[int]) -> str | None:
    """None when the command ended as allowed, else why it failed."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(30)
    try:
        res = runner.invoke(app, args)
    except _Timeout:
        return "hang (30 s)"
    finally:
        signal.alarm(0)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        return f"{type(res.exception).__name__}: {str(res.exception)[:120]}"
    if res.exit_code not in allowed:
        return f"exit {res.exit_code} (allowed {sorted(allowed)}): {(res.stderr or res.stdout)[-200:]}"
    if "Traceback" in res.output:
        return "traceback in the output"
    return None


def _fuzz(n: int, seed: int) -> tuple[int, list[str]]:
    from eligibility.extract import extract_comparisons
    from eligibility.parse import parse_criterion, read_criterion
    from eligibility.units import canonical_unit

    rng = random.Random(seed)
    odd = "İıſKßµμ٣۴५０²³⁹·×≥≤±‰°\u200b"
    words = "age years hemoglobin platelets ULN x 10^9/L g/dL mg/dL and or not ( ) within weeks of no history"
    alphabet = odd + "0123456789 ./-^*aAsSiIkK<>="
    failures = []
    for _ in range(n):
        parts = [
            rng.choice(words.split(" "))
            if rng.random() < 0.6
            else "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
            for _ in range(rng.randint(1, 12))
        ]
        text = " ".join(parts)
        unit = rng.choice(["g/dL", "10^9/L", "mg/dL", ""]) + "".join(rng.choice(odd + "0123456789^/") for _ in range(3))
        calls: list[tuple[Callable[[str], object], str]] = [
            (parse_criterion, text),
            (read_criterion, text),
            (extract_comparisons, text),
            (canonical_unit, unit),
        ]
        for call, arg in calls:
            try:
                call(arg)
            except EligibilityError:
                pass
            except Exception as exc:  # counting exactly these
                failures.append(f"{type(exc).__name__} on {text!r} / {unit!r}")
    return 4 * n, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fuzz", type=int, default=0, help="random criterion/unit strings to feed (default 0)")
    ap.add_argument("--seed", type=int, default=15)
    opts = ap.parse_args()
    runner = CliRunner()
    started = time.perf_counter()
    probes: list[tuple[str, list[str], set[int]]] = []
    with tempfile.TemporaryDirectory(prefix="probe-") as tmp:
        d = Path(tmp)
        for sub in ("p", "r", "b", "x"):
            (d / sub).mkdir()
        screen = ["screen", "--trial", "NCT06352281", "--as-of", "2026-01-15", "--patient"]
        # an unreadable unit on a record is unknown with a note (exit 0); a folder with bad files exits 1
        lenient = {"unit-digit.json": {0}, "unit-power.json": {0}, "p": {1}}
        probes += [(f"screen {p.name}", [*screen, str(p)], lenient.get(p.name, {2})) for p in _patient_files(d / "p")]
        good = d / "p2"
        good.mkdir()
        shutil.copy(PATIENT, good / "a.json")
        (good / "b.json").write_text("{", encoding="utf-8")
        probes.append(("screen folder with a bad file", [*screen, str(good)], {1}))
        for as_of in ("0001-01-05", "9999-12-31", "2026-02-30", "x"):
            probes.append((f"screen --as-of {as_of}", [*screen[:4], "--as-of", as_of, "--patient", str(PATIENT)], {2}))
        for f in _rule_files(d / "r"):
            allowed = {0} if f.suffix == ".txt" else {2}  # criteria text always reads (unknown at worst)
            probes.append((f"parse {f.name}", ["parse", "--summary", str(f)], allowed))
            if f.suffix == ".txt":
                probes.append((f"extract {f.name}", ["extract", str(f)], {0, 1}))
            if f.suffix == ".json":
                probes.append((f"draft-rules {f.name}", ["draft-rules", str(f)], {2}))
        probes.append(("parse folder of bad files", ["parse", "--summary", str(d / "r")], {1}))
        batch = ["batch", "--trial", "NCT06352281", "--as-of", "2026-01-15"]
        for name, args in _registries(d / "b"):
            # a bad row or value is a reported reject (exit 0); a bad file or option is refused (exit 2)
            allowed = {0} if name in ("longline", "unit", "quote", "ndjson-deep") else {2}
            probes.append((f"batch {name}", [*batch, *args], allowed))
        for name, data in (("notparquet", b"x"), ("empty", b""), ("csv", b"trial,patient_id\nX,p1\n")):
            (d / "x" / name).write_bytes(data)
            args = ["explain", "--patient", "p1", "--trial", "NCT06352281", "--results", str(d / "x" / name)]
            probes.append((f"explain {name}", [*args, "--registry", str(ROOT / "tests/fixtures/registry/basic")], {2}))
        (d / "round2").mkdir()
        probes += _second_round(d / "round2")
        failed = []
        for label, args, allowed in probes:
            why = _run(runner, args, allowed)
            if why is not None:
                failed.append(label)
                print(f"FAIL {label}: {why}")
    print(f"CLI probes: {len(probes)} tried, {len(failed)} failed ({time.perf_counter() - started:.0f} s)")
    if opts.fuzz:
        started = time.perf_counter()
        calls, failures = _fuzz(opts.fuzz, opts.seed)
        for f in failures[:20]:
            print(f"FUZZ {f}")
        print(
            f"fuzz: {calls} calls on {opts.fuzz} strings, {len(failures)} non-project exceptions"
            f" ({time.perf_counter() - started:.0f} s)"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
