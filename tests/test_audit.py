"""benchmarks/audit.py: sample -> judge -> score on a tiny corpus, determinism, and carry."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import ROOT

DOC_A = """Inclusion Criteria:
- Aged 21 years or older
- Haemoglobin of at least 9 g/dL
- Willing to keep a daily symptom diary
Exclusion Criteria:
- Known HIV infection
- History of stroke within the last 3 months
"""

DOC_B = """Inclusion Criteria:
- Age 40 to 70 years
- Platelet count greater than 100 x 10^9/L
Exclusion Criteria:
- Currently pregnant
- Prior kidney transplant
- Unable to attend the weekly visits in person
"""


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_bench", ROOT / "benchmarks" / "audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_bench"] = module
    spec.loader.exec_module(module)
    return module


audit = _load()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "TRIAL-A.txt").write_text(DOC_A, encoding="utf-8")
    (folder / "TRIAL-B.txt").write_text(DOC_B, encoding="utf-8")
    return folder


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _sample(corpus: Path, out: Path, n: int, seed: int) -> list[dict[str, Any]]:
    audit.main(["sample", str(corpus), "--n", str(n), "--seed", str(seed), "--out", str(out), "--quiet"])
    return _rows(out)


def test_only_computable_readings_are_sampled(corpus: Path) -> None:
    readings, trials = audit.collect([corpus])
    texts = {r.criterion.text for r in readings}
    assert trials == 2
    assert "Known HIV infection" in texts
    # nothing computable: never audited
    assert not any("diary" in t or "weekly visits" in t for t in texts)
    assert all(r.criterion.coverage != "none" for r in readings)


def test_sheet_fields_and_determinism(corpus: Path, tmp_path: Path) -> None:
    first = _sample(corpus, tmp_path / "a.jsonl", 4, 7)
    again = _sample(corpus, tmp_path / "b.jsonl", 4, 7)
    everything = _sample(corpus, tmp_path / "all.jsonl", 100, 7)
    assert first == again
    assert len(first) == 4
    assert len(everything) == len(audit.collect([corpus])[0])
    assert {r["key"] for r in first} <= {r["key"] for r in everything}
    row = first[0]
    for field in ("key", "trial", "id", "kind", "text", "reading", "coverage"):
        assert row[field], field
    assert row["judgement"] == row["pattern"] == row["comment"] == ""
    assert row["key"] == audit.reading_key(row["trial"], row["kind"], row["text"], row["reading"])
    other_seeds = {tuple(r["key"] for r in _sample(corpus, tmp_path / f"s{s}.jsonl", 3, s)) for s in range(8)}
    assert len(other_seeds) > 1


@pytest.mark.parametrize(
    ("judgements", "sound", "unsound", "doubtful"),
    [
        (["sound", "sound", "unsound:unit", "doubtful:broad-term", ""], 2, 1, 1),
        (["sound"] * 4, 4, 0, 0),
        (["unsound:age-boundary", "unsound:age-boundary", "bogus", "sound"], 1, 2, 0),
    ],
)
def test_score_figures(
    corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    judgements: list[str],
    sound: int,
    unsound: int,
    doubtful: int,
) -> None:
    sheet = tmp_path / "sheet.jsonl"
    rows = _sample(corpus, sheet, len(judgements), 3)
    assert len(rows) == len(judgements)
    for row, given in zip(rows, judgements, strict=True):
        row["judgement"], _, row["pattern"] = given.partition(":")
    audit.write_sheet(sheet, rows)
    figures = audit.score_rows(audit.read_sheets([sheet]))
    assert figures["counts"] == {"sound": sound, "unsound": unsound, "doubtful": doubtful}
    assert figures["judged"] == sound + unsound + doubtful
    lo, hi = figures["sound_ci"]
    assert lo <= figures["sound_share"] <= hi
    if unsound:
        assert sum(figures["by_pattern"]["unsound"].values()) == unsound
    capsys.readouterr()
    audit.main(["score", str(sheet)])
    out = capsys.readouterr().out
    assert f"readings judged: {sound + unsound + doubtful}" in out
    assert "Wilson 95 %" in out


@pytest.mark.parametrize(
    ("successes", "total", "lo", "hi"),
    [(0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (50, 100, 0.4038, 0.5962), (0, 0, 0.0, 1.0)],
)
def test_wilson_interval(successes: int, total: int, lo: float, hi: float) -> None:
    got = audit.wilson(successes, total)
    assert got == pytest.approx((lo, hi), abs=1e-3)


def test_carry_detects_a_changed_reading(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sheet = tmp_path / "old.jsonl"
    rows = _sample(corpus, sheet, 100, 1)
    for row in rows:
        row["judgement"] = "sound"
    # as if an earlier engine had read the first criterion differently
    rows[0]["reading"] = "age >= 99 years"
    rows[0]["key"] = audit.reading_key(rows[0]["trial"], rows[0]["kind"], rows[0]["text"], rows[0]["reading"])
    audit.write_sheet(sheet, rows)
    merged = tmp_path / "merged.jsonl"
    capsys.readouterr()
    audit.main(["carry", str(sheet), str(corpus), "--out", str(merged)])
    out = capsys.readouterr().out
    carried = _rows(merged)
    status = [r["status"] for r in carried]
    assert status[0] == "changed"
    assert status[1:] == ["unchanged"] * (len(rows) - 1)
    assert carried[0]["judgement"] == "" and carried[0]["previous_judgement"] == "sound"
    assert carried[0]["previous_reading"] == "age >= 99 years"
    assert all(r["judgement"] == "sound" for r in carried[1:])
    assert "changed 1" in out and "age >= 99 years" in out

    # the same through a new sheet instead of re-reading
    new = tmp_path / "new.jsonl"
    _sample(corpus, new, 100, 1)
    against = audit.carry_against(audit.read_sheets([sheet]), audit.read_sheets([new]))
    assert [r["status"] for r in against] == status


@pytest.mark.parametrize(("concept", "closed"), [("hepatitis_b", True), ("acute_infection", False)])
def test_the_gloss_says_what_absence_means_as_the_evaluator_does(concept: str, closed: bool) -> None:
    """The judges read this line: it must follow Vocabulary.complete, not a guess of the engine's rule."""
    from eligibility.concepts import default_vocabulary

    vocab = default_vocabulary()
    assert vocab.complete(concept) is closed
    gloss = audit._absence(vocab, concept)
    assert gloss.startswith("no record = absent" if closed else "no record = unknown")


def test_carry_detects_the_same_words_over_changed_codes(corpus: Path, tmp_path: Path) -> None:
    """A reading whose text is unchanged but whose concepts' codes or world changed is judged again."""
    sheet = tmp_path / "old.jsonl"
    rows = _sample(corpus, sheet, 100, 1)
    assert all("gloss" in r for r in rows)
    for row in rows:
        row["judgement"] = "sound"
    rows[0]["gloss"] = ["condition X, current, no record = absent; codes: icd10cm Z99"]  # what an older engine showed
    audit.write_sheet(sheet, rows)
    merged = tmp_path / "merged.jsonl"
    audit.main(["carry", str(sheet), str(corpus), "--out", str(merged)])
    carried = _rows(merged)
    assert carried[0]["status"] == "changed" and carried[0]["judgement"] == ""
    assert carried[0]["key"] == rows[0]["key"]  # same words, same key
    assert [r["status"] for r in carried[1:]] == ["unchanged"] * (len(rows) - 1)
