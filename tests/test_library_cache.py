"""The compiled-trial cache seen from a new process: what a restarted service or a second batch run pays.

A cache hit must cost no reading at all: not compiling the file, and not deriving again the ICD-10-CM
concepts the trials name (the closed-world test behind a derived concept indexes every ICD-10-CM title,
seconds of work, and re-deriving it on every load made loading a 100-trial library take as long as
compiling it). Counted, not timed: the second process replaces the compiler and the terminology's
closed-world test by functions that raise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import eligibility
from eligibility.library import TrialLibrary

_LOAD = r"""
import json, sys
from eligibility import library, terminology
from eligibility.library import TrialLibrary
if sys.argv[2] == "refuse":
    def refuse(*args, **kwargs):
        raise AssertionError("read again although the cache holds this file")
    library.compile_file = refuse
    terminology.closed_extent = refuse
    terminology.naming_descendants = refuse
lib = TrialLibrary.load(sys.argv[1])
concepts = sorted({c.rule.concept for t in lib for c in t.trial.criteria if hasattr(c.rule, "concept")})
print(json.dumps({
    "trials": [t.model_dump(mode="json") for t in lib],
    "derived": {k: lib.vocabulary[k].model_dump(mode="json") for k in concepts if k not in lib.vocabulary.concepts},
}))
"""


def _load_in_new_process(root: Path, cache: Path, mode: str) -> dict[str, object]:
    env = {**os.environ, "ELIGIBILITY_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", _LOAD, str(root), mode], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


def test_a_new_process_loads_from_the_cache_without_reading(tmp_path: Path) -> None:
    if not hasattr(eligibility.concepts.Vocabulary, "derive_condition"):
        pytest.skip("this engine derives no concepts while reading")
    root, cache = tmp_path / "lib", tmp_path / "cache"
    root.mkdir()
    (root / "CRISIS.txt").write_text("Exclusion Criteria:\n\n* Hypertensive crisis\n", encoding="utf-8")
    (root / "AGE.yaml").write_text(
        "trial: AGE\ntitle: Adults\ncriteria:\n  - id: age\n    kind: inclusion\n    text: adults\n"
        "    rule: age >= 18 years\n",
        encoding="utf-8",
    )
    first = _load_in_new_process(root, cache, "compile")
    assert first["derived"], "the criteria text should name a condition read through ICD-10-CM"
    second = _load_in_new_process(root, cache, "refuse")
    assert second == first  # same trials, and the same derived concepts (codes, extent, why)


def test_an_entry_of_the_old_layout_is_compiled_afresh(tmp_path: Path) -> None:
    """Entries that carried only the displays of derived concepts are not used (they would be re-derived)."""
    root, cache = tmp_path / "lib", tmp_path / "cache"
    root.mkdir()
    (root / "CRISIS.txt").write_text("Exclusion Criteria:\n\n* Hypertensive crisis\n", encoding="utf-8")
    first = TrialLibrary.load(root, cache=cache)
    (entry,) = (cache / "trials").glob("*.json")
    data = json.loads(entry.read_text(encoding="utf-8"))
    data["derived"] = {c["id"]: c["display"] for c in data["derived"]}
    entry.write_text(json.dumps(data), encoding="utf-8")
    fresh = eligibility.concepts.Vocabulary(
        list(first.vocabulary.concepts.values()), first.vocabulary.products, first.vocabulary.history
    )
    again = TrialLibrary.load(root, vocabulary=fresh, cache=cache)
    assert again.trials == first.trials
    assert isinstance(json.loads(entry.read_text(encoding="utf-8"))["derived"], list)  # rewritten


def test_a_derived_concept_comes_back_with_its_borderline(tmp_path: Path) -> None:
    """'acute promyelocytic leukaemia' derives icd10cm:C92.4 with an unspecified myeloid leukaemia (C92.9) as
    its borderline: a new process must get both from the cache, and a file compiled after a cache entry was
    read must still derive the borderline (the entry once adopted C92.4 without it: KeyError at start-up)."""
    if not hasattr(eligibility.concepts.Vocabulary, "derive_condition"):
        pytest.skip("this engine derives no concepts while reading")
    root, cache = tmp_path / "lib", tmp_path / "cache"
    root.mkdir()
    (root / "APL.txt").write_text("Exclusion Criteria:\n\n* Acute promyelocytic leukaemia\n", encoding="utf-8")
    first = _load_in_new_process(root, cache, "compile")
    (entry,) = (cache / "trials").glob("*.json")
    stored = {c["id"] for c in json.loads(entry.read_text(encoding="utf-8"))["derived"]}
    assert any(c.startswith("icd10cm-edge:") for c in stored), stored
    assert _load_in_new_process(root, cache, "refuse") == first
    # A second file, compiled in a process that read the first from the cache, reads the same condition.
    (root / "APL2.txt").write_text("Exclusion Criteria:\n\n* Acute promyelocytic leukemia\n", encoding="utf-8")
    both = _load_in_new_process(root, cache, "compile")
    assert len(both["trials"]) == 2  # type: ignore[arg-type]
