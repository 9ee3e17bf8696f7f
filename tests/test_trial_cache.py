"""Compiled trials kept between processes (eligibility.trial_cache): never stale, never a different result."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from eligibility import trial as trial_module
from eligibility import trial_cache
from eligibility.concepts import CONCEPT_FILES, default_vocabulary, load_vocabulary_text
from eligibility.trial import load_trial, rules_dir

from .fresh_process import cache_env, run_cli

ROOT = Path(__file__).resolve().parents[1]

CRITERIA = """Inclusion Criteria:
- Age 18 years or older
- Platelets >= 100 x 10^9/L

Exclusion Criteria:
- Hidradenitis suppurativa
- Sarcoidosis
- Celiac disease
"""


PLAIN = "Inclusion Criteria:\n- Age 18 years or older\n- Platelets >= 100 x 10^9/L\n"  # derives no concept


@pytest.fixture
def trials_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own, and a shipped vocabulary that has derived nothing yet (as in a new
    process: an entry is written only from such a vocabulary)."""
    monkeypatch.setenv("ELIGIBILITY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ELIGIBILITY_NO_CACHE", raising=False)
    fresh = default_vocabulary.__wrapped__()
    monkeypatch.setattr(trial_module, "default_vocabulary", lambda: fresh)
    monkeypatch.setattr(trial_cache, "default_vocabulary", lambda: fresh)
    return tmp_path / "cache" / "trials"


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


def test_a_rule_file_from_the_cache_equals_a_fresh_read(trials_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_trial("NCT06352281")
    (entry,) = _entries(trials_dir)
    again = load_trial("NCT06352281")  # read back
    assert again == first
    assert entry.exists() and first.origin == str(rules_dir().resolve() / "NCT06352281.yaml")
    monkeypatch.setenv("ELIGIBILITY_NO_CACHE", "1")
    assert load_trial("NCT06352281") == first
    assert _entries(trials_dir) == [entry]


def test_the_name_a_file_is_given_by_is_part_of_the_key(trials_dir: Path, tmp_path: Path) -> None:
    """The path as given is the trial's origin (shown in explanations), so two names are two entries."""
    path = tmp_path / "NCT00000003.txt"
    path.write_text(PLAIN)
    by_absolute = load_trial(path)
    os.chdir(tmp_path)
    try:
        by_relative = load_trial(Path("NCT00000003.txt"))
    finally:
        os.chdir(ROOT)
    assert by_absolute.origin == str(path) and by_relative.origin == "NCT00000003.txt"
    assert by_relative == by_absolute.model_copy(update={"origin": "NCT00000003.txt"})
    assert len(_entries(trials_dir)) == 2


def test_a_changed_file_is_read_afresh_and_a_corrupt_entry_ignored(trials_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "NCT00000001.txt"
    path.write_text(PLAIN)
    first = load_trial(path)
    path.write_text(PLAIN.replace(">= 100", ">= 150"))
    changed = load_trial(path)
    assert changed != first and "150" in changed.criteria[1].text
    assert len(_entries(trials_dir)) == 2
    for entry in _entries(trials_dir):
        entry.write_text('{"trial": 1')
    assert load_trial(path) == changed  # read afresh, and the entry written again
    rewritten = [e for e in _entries(trials_dir) if e.read_text() != '{"trial": 1']
    assert len(rewritten) == 1 and json.loads(rewritten[0].read_text())["trial"]["id"] == "NCT00000001"


def test_a_caller_s_own_vocabulary_is_never_cached(trials_dir: Path) -> None:
    data = ROOT / "eligibility" / "data"
    text = (data / "concepts.yaml").read_text(encoding="utf-8")
    # the concept files load together (a class in concepts.yaml may have members in drugs.yaml)
    extra = {name: (data / name).read_text(encoding="utf-8") for name in CONCEPT_FILES}
    own = load_vocabulary_text(text, "concepts.yaml", extra=extra)
    assert load_trial("NCT06352281", own).criteria
    assert _entries(trials_dir) == []


def _screen(env: dict[str, str], trial: Path, patient: Path) -> bytes:
    args = ["screen", "--trial", str(trial), "--patient", str(patient), "--as-of", "2026-01-15", "--format", "json"]
    return run_cli(env, *args)


def test_conditions_read_through_icd10cm_screen_alike_from_the_cache(tmp_path: Path) -> None:
    """Each run a fresh process, as on the command line: the concepts the first read derived come back with
    the entry, so a SNOMED CT record matched by text against them gives the same answer."""
    trial = tmp_path / "NCT00000002.txt"
    trial.write_text(CRITERIA)
    patient = tmp_path / "patient.json"
    patient.write_text(
        json.dumps(
            {
                "id": "p1",
                "birth_date": "1970-01-01",
                "sex": "female",
                "observations": [{"concept": "platelets", "value": 150, "unit": "10^9/L", "effective": "2026-01-02"}],
                "conditions": [
                    {
                        "system": "snomed",
                        "code": "396331005",
                        "text": "Celiac disease (disorder)",
                        "onset": "2020-01-01",
                    },
                    {"system": "snomed", "code": "31996006", "text": "Sarcoidosis (disorder)", "onset": "2019-01-01"},
                ],
            }
        )
    )
    cached = cache_env(tmp_path / "c")
    without = _screen(cache_env(None), trial, patient)
    cold = _screen(cached, trial, patient)
    (entry,) = _entries(tmp_path / "c" / "trials")
    derived = json.loads(entry.read_text())["derived"]
    assert any(c["id"].startswith("icd10cm:") for c in derived)
    warm = _screen(cached, trial, patient)
    assert without == cold == warm
    assert json.loads(warm)["verdict"] == "ineligible"
