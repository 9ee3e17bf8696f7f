"""Issue 15: bad text, bad files and hostile sizes give a clear message or an unknown, never a traceback."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eligibility import nodes as n
from eligibility.cli import app
from eligibility.errors import ParseError, UnitError
from eligibility.parse import MAX_CRITERION_CHARS, parse_criterion, read_criterion
from eligibility.units import canonical_unit

from .conftest import ROOT

# --- item 16: units -----------------------------------------------------------------------------

UNIT_ERRORS = [
    ("g/L٣", "cannot read unit 'g/L٣': 'L٣' is not a unit name"),
    ("g/dL400", "cannot read unit 'g/dL400': 'dL400': a power above 4 is not a clinical unit"),
    ("g/L²²²²", "cannot read unit 'g/L²²²²': 'L^2222': a power above 4 is not a clinical unit"),
    ("10^400/L", "cannot read unit '10^400/L': 10^400 is beyond any clinical count"),
    ("１０^9/L", "cannot read unit '１０^9/L': '１０^9' is not a unit name"),
]


@pytest.mark.parametrize(("text", "message"), UNIT_ERRORS)
def test_hostile_units_are_unit_errors(text: str, message: str) -> None:
    with pytest.raises(UnitError) as info:
        canonical_unit(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "canonical"), [("mm³", "mm³"), ("kg/m²", "kg/m²"), ("10¹²/L", "10^12/L")])
def test_ordinary_powers_still_read(text: str, canonical: str) -> None:
    assert canonical_unit(text) == canonical


# --- item 16: letters whose case folding is not one-to-one ----------------------------------------

FOLDED = [
    # (criterion with an odd letter, the same criterion in plain ASCII): both read alike
    ("Total choleſterol < 200 mg/dL", "Total cholesterol < 200 mg/dL"),
    ("Hemoglobin leſs than 9 g/dL", "Hemoglobin less than 9 g/dL"),
    ("Platelets not exceedıng 400 x 10^9/L", "Platelets not exceeding 400 x 10^9/L"),
    ("Age at moſt 75 years", "Age at most 75 years"),
    ("HEMOGLOBİN < 9 g/dL", "HEMOGLOBIN < 9 g/dL"),
]


@pytest.mark.parametrize(("odd", "plain"), FOLDED)
def test_case_fold_twins_read_like_ascii(odd: str, plain: str) -> None:
    def shape(rule: n.Node) -> str:
        return type(rule).__name__ + str(sorted(rule.model_dump(exclude={"span", "text"}).keys()))

    assert shape(parse_criterion(odd)) == shape(parse_criterion(plain))


# --- items 16 and 18: nesting and length bounds ---------------------------------------------------

TOO_BIG = [
    ("(" * 200 + "age > 18 years" + ")" * 200, "too deeply nested to read (200 levels of brackets; the limit is 12)"),
    ("[" * 13 + "age > 18 years" + "]" * 13, "too deeply nested to read (13 levels of brackets; the limit is 12)"),
    (
        "Hemoglobin >= 9 g/dL; " * 5000,
        "too long to read as one criterion (110,000 characters; the limit is 5,000): split it into separate items",
    ),
]


@pytest.mark.parametrize(("text", "reason"), TOO_BIG)
def test_huge_or_deep_criteria_are_unknown_with_a_reason(text: str, reason: str) -> None:
    rule = parse_criterion(text, "inclusion")
    assert isinstance(rule, n.Unparsed)
    assert rule.reason == reason
    with pytest.raises(ParseError) as info:
        read_criterion(text)
    assert str(info.value) == f"cannot read rule: {reason}"


def test_criterion_at_the_length_limit_is_still_read() -> None:
    text = ("age >= 18 years and " * 400)[: MAX_CRITERION_CHARS - 20] + " age >= 18 years"
    assert len(text) <= MAX_CRITERION_CHARS
    assert not isinstance(parse_criterion(text), n.Unparsed) or "too long" not in parse_criterion(text).reason


# --- items 16 and 17: input files -----------------------------------------------------------------

runner = CliRunner()
GOOD_PATIENT = ROOT / "examples" / "patient-eligible.json"
FLAT_RULES = (
    "trial: X1\ncriteria:\n  - id: A\n    kind: inclusion\n    text: Age 18 or over\n    rule: age >= 18 years\n"
)


def _bad_files(tmp: Path) -> dict[str, Path]:
    """Hostile input files, built fresh in ``tmp``."""
    files: dict[str, bytes] = {
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "bigint.json": b'{"id": "p1", "birth_date": ' + b"9" * 5000 + b"}",
        "surrogate.json": b'{"id": "p\\ud800"}',
        "latin1.json": b'{"id": "caf\xe9"}',
        "corrupt.json.gz": b"not gzip at all",
        "truncated.json.gz": gzip.compress(GOOD_PATIENT.read_bytes())[:200],
        "bomb.json.gz": gzip.compress(b" " * 3_000_000),
        "bomb.yaml": b'a: &a ["x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a]\ntrial: X\ncriteria: [*b]\n',
        "latin1.yaml": FLAT_RULES.replace("Age", "\xc2ge").encode("latin-1"),
        "hugeint.yaml": (FLAT_RULES + "version: " + "9" * 5000 + "\n").encode(),
        "deep.yaml": b"[" * 100_000 + b"]" * 100_000,
        "surrogate.yaml": FLAT_RULES.replace("Age 18 or over", '"Age \\ud800"').encode(),
        "title.yaml": ("title: {a: 1}\n" + FLAT_RULES).encode(),
        "types.yaml": b"trial: X\ncriteria:\n  - {id: [1], kind: 5, text: t, rule: age >= 18 years, note: {a: 1}}\n",
        "dates.yaml": b"trial: 2024-01-01\ncriteria:\n  - {id: 2024-01-02, kind: inclusion, text: t, rule: x}\n",
    }
    out = {}
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        out[name] = tmp / name
    fifo = tmp / "fifo.json"
    os.mkfifo(fifo)
    out["fifo.json"] = fifo
    return out


PATIENT_FILE_ERRORS = [
    ("deep.json", "not readable JSON: nested too deeply"),
    ("bigint.json", "not readable JSON: a number with more than 4,300 digits"),
    ("surrogate.json", "not valid Unicode: a lone surrogate escape (\\ud800)"),
    ("latin1.json", "not UTF-8 text (byte 0xe9 at offset 11)"),
    ("corrupt.json.gz", "not a readable gzip file (Error -3 while decompressing data: incorrect header check)"),
    ("truncated.json.gz", "truncated gzip file (the compressed data ends early)"),
    ("fifo.json", "not a regular file (a pipe, socket or device): only regular files are read"),
]


@pytest.mark.parametrize(("name", "message"), PATIENT_FILE_ERRORS)
def test_bad_patient_files_exit_2_naming_the_file(tmp_path: Path, name: str, message: str) -> None:
    path = _bad_files(tmp_path)[name]
    res = runner.invoke(app, ["screen", "--trial", "NCT06352281", "--patient", str(path), "--as-of", "2025-01-01"])
    assert res.exit_code == 2
    assert res.stderr == f"error: {path}: {message}\n"


RULE_FILE_ERRORS = [
    ("surrogate.yaml", "not valid Unicode: a lone surrogate escape (\\ud800)"),
    ("title.yaml", "field 'title': expected text, not a mapping"),
    (
        "types.yaml",
        "1 problem(s):\n  criteria[0]: field(s) must be text: id (a list), kind (a number), note (a mapping)",
    ),
    (
        "dates.yaml",
        "2 problem(s):\n  field 'trial': a trial id is required\n  criteria[0]: field(s) must be text: id (a date)",
    ),
    ("bomb.yaml", "line 2: YAML aliases (*a) are not allowed in rule files; write the value out"),
    ("latin1.yaml", "not UTF-8 text (byte 0xc2 at offset 60)"),
    ("hugeint.yaml", "not readable YAML: a number with more than 4,300 digits"),
    ("deep.yaml", "not readable YAML: nested too deeply"),
]


@pytest.mark.parametrize(("name", "message"), RULE_FILE_ERRORS)
def test_bad_rule_files_exit_2_naming_the_file(tmp_path: Path, name: str, message: str) -> None:
    path = _bad_files(tmp_path)[name]
    res = runner.invoke(app, ["parse", str(path)])
    assert res.exit_code == 2
    assert res.stderr == f"error: {path}: {message}\n"


def test_devices_and_oversize_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "small.yaml").write_text(FLAT_RULES, encoding="utf-8")
    args = ["screen", "--trial", str(tmp_path / "small.yaml"), "--as-of", "2025-01-01", "--patient"]
    res = runner.invoke(app, [*args, "/dev/zero"])
    assert (res.exit_code, res.stderr) == (
        2,
        "error: /dev/zero: not a regular file (a pipe, socket or device): only regular files are read\n",
    )
    monkeypatch.setenv("ELIGIBILITY_MAX_INPUT_BYTES", "1000000")
    bomb = _bad_files(tmp_path)["bomb.json.gz"]
    res = runner.invoke(app, [*args, str(bomb)])
    assert res.stderr == (
        f"error: {bomb}: the decompressed content is larger than the input limit of 1,000,000 bytes"
        " (raise it with ELIGIBILITY_MAX_INPUT_BYTES)\n"
    )
    size = GOOD_PATIENT.stat().st_size
    monkeypatch.setenv("ELIGIBILITY_MAX_INPUT_BYTES", str(size - 1))
    res = runner.invoke(app, [*args, str(GOOD_PATIENT)])
    assert res.exit_code == 2
    assert f"the file ({size:,} bytes) is larger than the input limit of {size - 1:,} bytes" in res.stderr
    monkeypatch.setenv("ELIGIBILITY_MAX_INPUT_BYTES", str(size))  # raised: read again
    assert runner.invoke(app, [*args, str(GOOD_PATIENT)]).exit_code == 0


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("0001-02-01", "--as-of must be between 1900-01-01 and 2999-12-31, not '0001-02-01'"),
        ("9999-12-31", "--as-of must be between 1900-01-01 and 2999-12-31, not '9999-12-31'"),
        ("2025-02-30", "--as-of must be a date YYYY-MM-DD, not '2025-02-30'"),
    ],
)
def test_far_off_screening_dates_exit_2(as_of: str, message: str) -> None:
    res = runner.invoke(app, ["screen", "--trial", "NCT06352281", "--patient", str(GOOD_PATIENT), "--as-of", as_of])
    assert (res.exit_code, res.stderr) == (2, f"error: {message}\n")


# --- item 19: one bad file in a folder ------------------------------------------------------------


def test_screen_folder_screens_the_good_files_and_names_the_bad_one(tmp_path: Path) -> None:
    for example in sorted((ROOT / "examples").glob("*.json")):
        shutil.copy(example, tmp_path / example.name)
    (tmp_path / "broken.json").write_text('{"id": ', encoding="utf-8")
    args = ["screen", "--trial", "NCT06352281", "--patient", str(tmp_path), "--as-of", "2025-01-01"]
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 1
    assert res.stderr == (
        f"error: {tmp_path / 'broken.json'}: not valid JSON (line 1, column 8: Expecting value)\n"
        "error: 1 of 4 patient files could not be read (named above); the others were screened\n"
    )
    assert len(json.loads(res.stdout)) == 3


def test_parse_folder_parses_the_good_files_and_names_the_bad_ones(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(FLAT_RULES, encoding="utf-8")
    bad = _bad_files(tmp_path)
    for name in list(bad):
        if name not in ("bomb.yaml", "latin1.yaml"):
            bad[name].unlink()
    res = runner.invoke(app, ["parse", "--summary", str(tmp_path)])
    assert res.exit_code == 1
    assert res.stdout == "coverage X1: 1 fully, 0 partly, 0 not computable (of 1)\n"
    assert res.stderr == (
        f"error: {bad['bomb.yaml']}: line 2: YAML aliases (*a) are not allowed in rule files; write the value out\n"
        f"error: {bad['latin1.yaml']}: not UTF-8 text (byte 0xc2 at offset 60)\n"
        "error: 2 of 3 files could not be read (named above); the others were parsed\n"
    )


# --- item 22: a malformed registry CSV line is reported once; an unbalanced quote names its lines ----

HEADER = "patient_id,birth_date,sex\n"
CSV_LINES = [
    (
        "p1,2000-01-01,male\np2,2000-01-01,female,a,b,c,d,e,f\np3,1999-99-99,female\n",
        [
            (3, None, "malformed line: 9 values where the header names 3 columns (line left out)"),
            (4, "birth_date", "not a date (YYYY-MM-DD) (kept as unknown)"),  # the line after stays right
        ],
        2,
    ),
    (
        "p1\np2,2000-01-01,male\n",
        [(2, "birth_date", "malformed line: 1 value(s) where the header names 3 columns (line left out)")],
        1,
    ),
    (
        'p0,1980-01-01,male\np1,"1980-01-01,male\np2,1980-01-01,male\np3,1980-01-01,female\n',
        [
            (
                3,
                "birth_date",
                "unbalanced quote: the quote opened in column 'birth_date' is never closed, "
                "so lines 3-5 (the rest of the file) were not read",
            )
        ],
        1,
    ),
    (
        'p0,1980-01-01,"male\n',
        [(2, "sex", "unbalanced quote: the quote opened in column 'sex' is never closed, so the line was not read")],
        0,
    ),
    (
        "patient_id,birth_date,sex\r\np1,2000-01-01,male\r\np2,2000-01-01,female,x\r\np3,2000-01-01,female\r\n",
        [(3, None, "malformed line: 4 values where the header names 3 columns (line left out)")],
        2,
    ),
]


@pytest.mark.parametrize(("body", "expected", "patients"), CSV_LINES)
def test_each_bad_csv_line_is_one_reject_with_line_column_and_reason(
    tmp_path: Path, body: str, expected: list[tuple[int, str | None, str]], patients: int
) -> None:
    from eligibility.batch import load_registry

    text = body if body.startswith("patient_id") else HEADER + body
    (tmp_path / "patients.csv").write_bytes(text.encode())
    reg = load_registry(tmp_path)
    assert [(r.file, r.line, r.column, r.reason) for r in reg.rejects()] == [
        ("patients.csv", line, col, reason) for line, col, reason in expected
    ]
    assert reg.patient_count() == patients
    # the value shown is the bad line itself (one line, without its line ending)
    malformed = [r for r in reg.rejects() if r.column is None or "quote" in r.reason or "value(s)" in r.reason]
    assert all("\n" not in (r.value or "") and "\r" not in (r.value or "") for r in malformed)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            HEADER + "p1,2000-01-01,male\r\np2,2000-01-01,female,x\r\n",
            "some lines end in '\\n' and others in '\\r\\n': convert the file to one line ending ('\\n')",
        ),
        (
            "patient_id,birth_date,sex\r\r\np1,1980-01-01,male\r\r\n",
            "lines end in '\\r\\r\\n' (converted to Windows line endings twice): convert to '\\n'",
        ),
    ],
)
def test_csv_line_endings_duckdb_cannot_read_are_refused_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    from eligibility.batch import load_registry
    from eligibility.errors import InputError

    (tmp_path / "patients.csv").write_bytes(text.encode())
    with pytest.raises(InputError) as info:
        load_registry(tmp_path)
    assert str(info.value) == f"{tmp_path / 'patients.csv'}: {message}"


def test_a_line_break_inside_a_quoted_value_is_data_not_a_mixed_line_ending(tmp_path: Path) -> None:
    from eligibility.batch import load_registry

    (tmp_path / "patients.csv").write_bytes(
        b'patient_id,birth_date,sex\r\np1,2000-01-01,"male"\r\np2,"2000-01-01\nx",female\r\n'
    )
    reg = load_registry(tmp_path)
    assert reg.patient_count() == 2
    assert [(r.line, r.column) for r in reg.rejects()] == [(3, "birth_date")]  # not a date, kept as unknown


# --- a key given twice: the last one silently won ----------------------------------------------------

TWICE = "(which value is meant cannot be told): keep one"


def test_a_json_key_given_twice_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"id": "a", "birth_date": "1950-01-01", "sex": "male", "birth_date": "2000-01-01"}')
    res = runner.invoke(app, ["screen", "--trial", "NCT06352281", "--patient", str(path), "--as-of", "2025-01-01"])
    assert (res.exit_code, res.stderr) == (
        2,
        f"error: {path}: the key 'birth_date' appears twice in one object {TWICE}\n",
    )


def test_a_yaml_key_given_twice_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(FLAT_RULES.replace("    rule:", "    kind: exclusion\n    rule:"))
    res = runner.invoke(app, ["parse", str(path)])
    assert (res.exit_code, res.stderr) == (
        2,
        f"error: {path}: line 6: the key 'kind' appears twice in one mapping {TWICE}\n",
    )


# --- item 14: Spark's temporary files go to --work-dir -------------------------------------------------

_SPARK_PROBE = """
import json, sys
from pathlib import Path
from typer.testing import CliRunner
from eligibility.batch import spark as sp
from eligibility.cli import app
tmp, work, out = map(Path, sys.argv[1:4])
seen = {}
orig = sp.SparkRunner.run
def run(self, plan, table):
    orig(self, plan, table)
    jvm = self.spark.sparkContext._jvm
    seen["java_tmp"] = str(jvm.java.lang.System.getProperty("java.io.tmpdir"))
    seen["local_dir"] = self.spark.sparkContext.getConf().get("spark.local.dir")
    seen["tmp"] = sorted(p.name for p in tmp.iterdir())
    seen["work"] = sorted(p.name.split("-")[0] for p in work.iterdir())
sp.SparkRunner.run = run
args = ["batch", "--registry", sys.argv[4], "--trial", "NCT06352281", "--as-of", "2026-01-15",
        "--engine", "spark", "--work-dir", str(work), "--out", str(out)]
seen["exit"] = CliRunner().invoke(app, args).exit_code
print(json.dumps(seen))
"""


def test_spark_temporary_files_go_to_the_work_folder(tmp_path: Path) -> None:
    """In a fresh process (a JVM's temp folder is fixed when it starts): the driver's java.io.tmpdir and
    spark.local.dir are the work folder, the system temp folder stays empty, nothing is left after."""
    import subprocess
    import sys

    pytest.importorskip("pyspark", reason="pyspark is not installed")
    if shutil.which("java") is None:  # pragma: no cover - depends on the machine
        pytest.skip("Spark needs a Java runtime")
    tmp, work = tmp_path / "tmp", tmp_path / "work"
    tmp.mkdir()
    work.mkdir()
    basic = ROOT / "tests" / "fixtures" / "registry" / "basic"
    proc = subprocess.run(
        [sys.executable, "-c", _SPARK_PROBE, str(tmp), str(work), str(tmp_path / "r.parquet"), str(basic)],
        env={**os.environ, "TMPDIR": str(tmp)},
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["exit"] == 0
    assert seen["java_tmp"] == str(work.absolute())
    assert seen["local_dir"] == str(work.absolute())
    assert seen["tmp"] == []
    assert {"blockmgr", "eligibility", "spark"} <= set(seen["work"])
    assert list(work.iterdir()) == []  # removed when the run (and its JVM) ended
    assert list(tmp.iterdir()) == []
