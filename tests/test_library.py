"""The trial library (issue 12.1): loading a folder, ranking, questions, the cache, ``eligibility match``.

The trials here are written for the tests (rule files and small CT.gov records with sentences of our own);
the real 100-study library is loaded once, from its cache, by the last test.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import eligibility
from eligibility import library_cache
from eligibility.cli import app
from eligibility.errors import InputError
from eligibility.library import Match, TrialCoverage, TrialLibrary, questions, rank_key
from eligibility.patient import Patient
from eligibility.trial import coverage_counts, load_trial, rules_dir

AS_OF = date(2026, 3, 1)
runner = CliRunner()


# ---------------------------------------------------------------------------------------------------------
# Building libraries
# ---------------------------------------------------------------------------------------------------------


def _rule_file(folder: Path, trial: str, criteria: list[tuple[str, str, str]], **extra: Any) -> Path:
    """A rule file with criteria (id, kind, rule); the text of each is its rule, or a sentence for review."""
    lines = [f"trial: {trial}", f"title: Trial {trial}"]
    lines += [f"{k}: {json.dumps(v)}" for k, v in extra.items()]
    lines.append("criteria:")
    for cid, kind, rule in criteria:
        text = f"a question a coordinator answers ({cid})" if rule == "review" else rule
        lines += [
            f"  - id: {cid}",
            f"    kind: {kind}",
            f"    text: {json.dumps(text)}",
            f"    rule: {json.dumps(rule)}",
        ]
    path = folder / f"{trial}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _study(nct: str, criteria: str, *, title: str = "A study", min_age: str | None = "18 Years") -> dict[str, Any]:
    elig: dict[str, Any] = {"eligibilityCriteria": criteria, "sex": "ALL"}
    if min_age:
        elig["minimumAge"] = min_age
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct, "briefTitle": title},
            "conditionsModule": {"conditions": ["Made-up Condition", "Another One"]},
            "eligibilityModule": elig,
        }
    }


CRITERIA_TEXT = (
    "Inclusion Criteria:\n\n* Able to walk up two flights of stairs\n\nExclusion Criteria:\n\n* Owns a red bicycle\n"
)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """rules/ with two rule files, an array of two studies and a single study in a sub-folder."""
    root = tmp_path / "lib"
    (root / "ctgov").mkdir(parents=True)
    _rule_file(root, "RULE-A", [("age", "inclusion", "age >= 18 years")], conditions=["Thing A"])
    _rule_file(root, "RULE-B", [("I1", "inclusion", "review")], version="2.1")
    studies = [_study("NCT90000001", CRITERIA_TEXT, title="First"), _study("NCT90000002", "", title="Second")]
    (root / "ctgov" / "two.json").write_text(json.dumps(studies), encoding="utf-8")
    (root / "ctgov" / "one.json").write_text(json.dumps(_study("NCT90000003", CRITERIA_TEXT)), encoding="utf-8")
    (root / "notes.txt").write_text(CRITERIA_TEXT, encoding="utf-8")  # criteria text: trial "notes"
    (root / "README.md").write_text("not a trial", encoding="utf-8")
    (root / ".hidden.yaml").write_text("not: [valid", encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "config.json").write_text("{", encoding="utf-8")  # hidden folders are skipped too
    return root


def test_loads_rule_files_and_ctgov_arrays(mixed: Path) -> None:
    lib = TrialLibrary.load(mixed, cache=False)
    by_id = {t.id: t for t in lib}
    assert sorted(by_id) == ["NCT90000001", "NCT90000002", "NCT90000003", "RULE-A", "RULE-B", "notes"]
    assert by_id["RULE-A"].source == "RULE-A.yaml" and by_id["NCT90000002"].source == "ctgov/two.json"
    assert by_id["NCT90000001"].title == "First"
    assert by_id["NCT90000001"].conditions == ["Made-up Condition", "Another One"]
    assert by_id["RULE-A"].conditions == ["Thing A"]
    assert by_id["RULE-B"].rule_version == "2.1"  # the rule file's own version field
    assert by_id["RULE-A"].rule_version.startswith("sha256:")
    assert by_id["notes"].source == "notes.txt" and len(by_id["notes"].trial.criteria) == 2
    assert lib.get("RULE-A").trial.criteria[0].id == "age"
    assert lib.errors == ()


@pytest.mark.parametrize(
    "trial_id,expected",
    [
        # id, (fully, partly, unread, unscreened, label)
        ("RULE-A", (1, 0, 0, 0, "fully")),
        ("RULE-B", (0, 0, 1, 0, "needs review")),
        ("NCT90000001", (1, 0, 2, 0, "partly")),  # age read; two sentences nobody can compute
        ("NCT90000002", (1, 0, 0, 1, "partly")),  # age read; no criteria text at all: unscreened
    ],
)
def test_coverage_per_trial(mixed: Path, trial_id: str, expected: tuple[int, int, int, int, str]) -> None:
    entry = TrialLibrary.load(mixed, cache=False).get(trial_id)
    c = entry.coverage
    assert (c.fully, c.partly, c.unread, c.unscreened, c.label) == expected
    counts = coverage_counts(entry.trial)  # the same counts as `eligibility parse --summary`
    assert (counts["full"], counts["partial"], counts["none"]) == expected[:3]


def test_coverage_matches_parse_summary() -> None:
    result = runner.invoke(app, ["parse", str(rules_dir()), "--summary", "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = {d["trial"]: d["coverage"] for d in map(json.loads, result.stdout.splitlines())}
    for entry in TrialLibrary.load(rules_dir(), cache=False):
        c = entry.coverage
        assert summary[entry.id] == {"full": c.fully, "partial": c.partly, "none": c.unread}


def test_rule_version_changes_with_the_study_only(mixed: Path) -> None:
    before = {t.id: t.rule_version for t in TrialLibrary.load(mixed, cache=False)}
    path = mixed / "ctgov" / "two.json"
    studies = json.loads(path.read_text(encoding="utf-8"))
    studies[1]["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] = CRITERIA_TEXT
    path.write_text(json.dumps(studies), encoding="utf-8")
    after = {t.id: t.rule_version for t in TrialLibrary.load(mixed, cache=False)}
    assert after["NCT90000002"] != before["NCT90000002"]
    assert {k: v for k, v in after.items() if k != "NCT90000002"} == {
        k: v for k, v in before.items() if k != "NCT90000002"
    }


def test_a_single_file_is_a_library(mixed: Path) -> None:
    lib = TrialLibrary.load(mixed / "ctgov" / "two.json", cache=False)
    assert [t.id for t in lib] == ["NCT90000001", "NCT90000002"]
    assert {t.source for t in lib} == {"two.json"}


def test_duplicate_ids_across_files(mixed: Path) -> None:
    (mixed / "ctgov" / "again.json").write_text(json.dumps(_study("NCT90000003", CRITERIA_TEXT)), encoding="utf-8")
    with pytest.raises(InputError) as err:
        TrialLibrary.load(mixed, cache=False)
    message = str(err.value)
    assert "NCT90000003" in message and "ctgov/again.json" in message and "ctgov/one.json" in message
    lenient = TrialLibrary.load(mixed, cache=False, strict=False)
    assert lenient.get("NCT90000003").source == "ctgov/again.json"  # the first in name order is kept
    assert [e.path for e in lenient.errors] == [str(mixed / "ctgov" / "one.json")]


def test_a_duplicate_inside_an_array_drops_only_itself(mixed: Path) -> None:
    # NCT90000001 is also in two.json (which sorts after three.json)
    studies = [_study(nct, CRITERIA_TEXT) for nct in ("NCT90000004", "NCT90000001", "NCT90000005")]
    (mixed / "ctgov" / "three.json").write_text(json.dumps(studies), encoding="utf-8")
    lenient = TrialLibrary.load(mixed, cache=False, strict=False)
    assert {"NCT90000004", "NCT90000005"} <= {t.id for t in lenient}
    assert lenient.get("NCT90000001").source == "ctgov/three.json"
    assert len(lenient.errors) == 1 and "NCT90000001 is defined twice" in str(lenient.errors[0])


@pytest.mark.parametrize(
    "name,content,says",
    [
        ("broken.json", "[{", "not valid JSON"),
        ("broken.yaml", "trial: X\ncriteria: [\n", "YAML"),
        ("nokind.yaml", 'trial: X\ncriteria:\n  - {id: I1, kind: maybe, text: "t", rule: review}\n', "kind"),
        ("badnct.json", json.dumps(_study("NCT12", CRITERIA_TEXT)), "nctId"),
    ],
)
def test_a_bad_file_is_named(mixed: Path, name: str, content: str, says: str) -> None:
    bad = mixed / name
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as err:
        TrialLibrary.load(mixed, cache=False)
    assert err.value.path == str(bad) and says in str(err.value)
    lenient = TrialLibrary.load(mixed, cache=False, strict=False)
    assert len(lenient) == 6 and [e.path for e in lenient.errors] == [str(bad)]


def test_missing_library_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        TrialLibrary.load(tmp_path / "nowhere", cache=False)


# ---------------------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def ranked_lib(tmp_path: Path) -> TrialLibrary:
    """Five trials whose verdicts differ by age, sex and the number of questions only a person can answer."""
    root = tmp_path / "rank"
    root.mkdir()
    _rule_file(root, "ADULT", [("age", "inclusion", "age >= 18 years")])
    _rule_file(root, "WOMEN", [("sex", "inclusion", "women"), ("age", "inclusion", "age >= 18 years")])
    _rule_file(root, "ONE-Q", [("age", "inclusion", "age >= 18 years"), ("I1", "inclusion", "review")])
    _rule_file(
        root,
        "TWO-Q",
        [("I1", "inclusion", "review"), ("E1", "exclusion", "review"), ("age", "inclusion", "age >= 18 years")],
    )
    _rule_file(root, "ELDERS", [("age", "inclusion", "age >= 65 years"), ("I1", "inclusion", "review")])
    return TrialLibrary.load(root, cache=False)


def _person(pid: str, sex: str | None, born: date | None) -> Patient:
    return Patient.model_validate({"id": pid, "sex": sex, "birth_date": born})


@pytest.mark.parametrize(
    "patient,expected",
    [
        (
            _person("woman-40", "female", date(1986, 1, 1)),
            [
                ("ADULT", "eligible", 0, []),
                ("WOMEN", "eligible", 0, []),
                ("ONE-Q", "needs-review", 1, ["I1"]),
                ("TWO-Q", "needs-review", 2, ["I1", "E1"]),
                ("ELDERS", "ineligible", 1, ["age"]),
            ],
        ),
        (
            _person("man-70", "male", date(1956, 1, 1)),
            [
                ("ADULT", "eligible", 0, []),
                ("ELDERS", "needs-review", 1, ["I1"]),
                ("ONE-Q", "needs-review", 1, ["I1"]),
                ("TWO-Q", "needs-review", 2, ["I1", "E1"]),
                ("WOMEN", "ineligible", 0, ["sex"]),
            ],
        ),
        (
            _person("girl-10", "female", date(2016, 1, 1)),
            [
                ("ADULT", "ineligible", 0, ["age"]),
                ("ELDERS", "ineligible", 1, ["age"]),
                ("ONE-Q", "ineligible", 1, ["age"]),
                ("TWO-Q", "ineligible", 2, ["age"]),
                ("WOMEN", "ineligible", 0, ["age"]),
            ],
        ),
        (
            # nothing known: every age and sex criterion is an open question too
            _person("unknown", None, None),
            [
                ("ADULT", "needs-review", 1, ["age"]),
                ("ELDERS", "needs-review", 2, ["age", "I1"]),
                ("ONE-Q", "needs-review", 2, ["age", "I1"]),
                ("WOMEN", "needs-review", 2, ["sex", "age"]),
                ("TWO-Q", "needs-review", 3, ["I1", "E1", "age"]),
            ],
        ),
    ],
    ids=lambda v: v.id if isinstance(v, Patient) else "",
)
def test_ranking(ranked_lib: TrialLibrary, patient: Patient, expected: list[tuple[str, str, int, list[str]]]) -> None:
    matches = ranked_lib.match(patient, as_of=AS_OF)
    assert [(m.trial, m.verdict, m.open_questions, m.deciding) for m in matches] == expected
    for m in matches:
        assert m.result.patient == patient.id and m.result.verdict == m.verdict and m.title == f"Trial {m.trial}"


def test_match_selected_trials_and_unknown_ids(ranked_lib: TrialLibrary) -> None:
    woman = _person("w", "female", date(1990, 5, 5))
    assert [m.trial for m in ranked_lib.match(woman, as_of=AS_OF, trial_ids=["TWO-Q", "WOMEN"])] == ["WOMEN", "TWO-Q"]
    with pytest.raises(InputError, match="unknown trial id"):
        ranked_lib.match(woman, as_of=AS_OF, trial_ids=["NOPE"])


def test_match_equals_screening_each_trial_alone(ranked_lib: TrialLibrary) -> None:
    """The shared evaluation context changes nothing: each result is what api.screen gives on its own."""
    patient = _person("m", "male", date(1950, 2, 2))
    for m in ranked_lib.match(patient, as_of=AS_OF):
        assert m.result == eligibility.screen(ranked_lib.get(m.trial).trial, patient, as_of=AS_OF)


def test_questions_are_the_unknowns(ranked_lib: TrialLibrary) -> None:
    result = ranked_lib.match(_person("u", None, None), as_of=AS_OF, trial_ids=["TWO-Q"])[0].result
    qs = questions(result)
    assert [(q.criterion, q.kind) for q in qs] == [("I1", "inclusion"), ("E1", "exclusion"), ("age", "inclusion")]
    assert all(q.decide_by for q in qs)
    assert "birth date" in qs[2].decide_by
    assert qs[0].text in qs[0].ask


# ---------------------------------------------------------------------------------------------------------
# Ids never become paths (issue 15 item 21)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("trial_id", ["../RULE-A", "RULE-A.yaml", "/etc/passwd", "..", "", "ctgov/one"])
def test_library_ids_are_never_paths(mixed: Path, trial_id: str) -> None:
    lib = TrialLibrary.load(mixed, cache=False)
    with pytest.raises(InputError, match="unknown trial id"):
        lib.get(trial_id)
    assert trial_id not in lib


def test_load_trial_id_does_not_leave_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = _rule_file(tmp_path, "OUTSIDE", [("age", "inclusion", "age >= 18 years")])
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # so that the relative id is not also a file path from here
    sneaky = os.path.relpath(outside.with_suffix(""), rules_dir())
    assert sneaky.startswith("..")
    with pytest.raises(InputError, match="no rule file for a trial of that id"):
        load_trial(sneaky)
    with pytest.raises(InputError):
        load_trial(str(rules_dir() / ".." / "rules" / "NCT06352281"))
    assert load_trial("NCT06352281").id == "NCT06352281"  # a plain id still resolves


# ---------------------------------------------------------------------------------------------------------
# The cache of compiled trials
# ---------------------------------------------------------------------------------------------------------


def _refuse_compiling(*args: object) -> None:
    raise AssertionError("compiled although the cache holds this file")


def test_cache_is_used_and_never_stale(mixed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    first = TrialLibrary.load(mixed, cache=cache)
    assert len(list((cache / "trials").glob("*.json"))) == 5  # one entry per library file
    with monkeypatch.context() as m:
        m.setattr("eligibility.library.compile_file", _refuse_compiling)
        again = TrialLibrary.load(mixed, cache=cache)
    assert again.trials == first.trials

    rule = mixed / "RULE-A.yaml"
    rule.write_text(rule.read_text(encoding="utf-8").replace(">= 18", ">= 21"), encoding="utf-8")
    edited = TrialLibrary.load(mixed, cache=cache)
    assert edited.get("RULE-A").trial.criteria[0].reading == "age >= 21 years"
    assert edited.get("RULE-A").rule_version != first.get("RULE-A").rule_version
    assert edited.get("NCT90000001") == first.get("NCT90000001")


def test_cache_key_holds_engine_and_vocabulary(mixed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    TrialLibrary.load(mixed, cache=cache)
    monkeypatch.setattr(library_cache, "engine_fingerprint", lambda: "another engine")
    TrialLibrary.load(mixed, cache=cache)
    assert len(list((cache / "trials").glob("*.json"))) == 10
    vocab = eligibility.concepts.default_vocabulary()
    other = eligibility.concepts.Vocabulary(list(vocab.concepts.values())[:-1], vocab.products, vocab.history)
    assert library_cache.vocabulary_fingerprint(other) != library_cache.vocabulary_fingerprint(vocab)


def test_an_entry_naming_an_unknown_concept_is_not_used(tmp_path: Path) -> None:
    root, cache = tmp_path / "lib", tmp_path / "cache"
    root.mkdir()
    _rule_file(root, "BLEED", [("E1", "exclusion", "hemostatic disorders")])
    first = TrialLibrary.load(root, cache=cache)
    concept = first.get("BLEED").trial.criteria[0].rule.concept  # type: ignore[union-attr]
    (entry,) = (cache / "trials").glob("*.json")
    text = entry.read_text(encoding="utf-8")
    assert f'"concept":"{concept}"' in text
    entry.write_text(text.replace(f'"concept":"{concept}"', '"concept":"no-such-concept"'), encoding="utf-8")
    assert TrialLibrary.load(root, cache=cache).trials == first.trials


def test_derived_concepts_survive_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A condition read through ICD-10-CM is a concept made while reading; from the cache nothing is read, so
    the entry carries it and a vocabulary that never read the trial learns it again."""
    vocab = eligibility.concepts.default_vocabulary()
    if not hasattr(vocab, "derive_condition"):
        pytest.skip("this engine derives no concepts while reading")
    root, cache = tmp_path / "lib", tmp_path / "cache"
    root.mkdir()
    (root / "CRISIS.txt").write_text("Exclusion Criteria:\n\n* Hypertensive crisis\n", encoding="utf-8")
    first = TrialLibrary.load(root, cache=cache)
    concept = first.get("CRISIS").trial.criteria[0].rule.concept  # type: ignore[union-attr]
    assert concept not in vocab.concepts  # derived, not one of the vocabulary's own
    fresh = eligibility.concepts.Vocabulary(list(vocab.concepts.values()), vocab.products, vocab.history)
    assert concept not in fresh
    monkeypatch.setattr("eligibility.library.compile_file", _refuse_compiling)
    again = TrialLibrary.load(root, vocabulary=fresh, cache=cache)
    assert concept in fresh and again.trials == first.trials
    patient = _person("p", "male", date(1970, 1, 1))
    assert again.match(patient, as_of=AS_OF)[0].result == first.match(patient, as_of=AS_OF)[0].result


def test_a_damaged_cache_entry_is_recompiled(mixed: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = TrialLibrary.load(mixed, cache=cache)
    for entry in (cache / "trials").glob("*.json"):
        entry.write_text('[{"id": "forged"}]', encoding="utf-8")
    assert TrialLibrary.load(mixed, cache=cache).trials == first.trials


def test_an_unwritable_cache_is_skipped(mixed: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x", encoding="utf-8")
    assert len(TrialLibrary.load(mixed, cache=blocker)) == 6


# ---------------------------------------------------------------------------------------------------------
# eligibility match
# ---------------------------------------------------------------------------------------------------------


def _write_patient(folder: Path, pid: str, sex: str | None, born: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pid}.json"
    data: dict[str, Any] = {"id": pid}
    if sex:
        data["sex"] = sex
    if born:
        data["birth_date"] = born
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _match_cli(*args: str) -> Any:
    return runner.invoke(app, ["match", "--as-of", AS_OF.isoformat(), *args])


def test_cli_json_contract(ranked_lib: TrialLibrary, tmp_path: Path) -> None:
    patient = _write_patient(tmp_path / "p", "woman", "female", "1986-01-01")
    result = _match_cli("--library", str(ranked_lib.root), "--patient", str(patient), "--format", "json", "--no-cache")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [m["trial"] for m in data] == ["ADULT", "WOMEN", "ONE-Q", "TWO-Q", "ELDERS"]
    for m in data:
        assert set(m) == {"trial", "title", "verdict", "open_questions", "deciding", "result"}
        Match.model_validate(m)  # the JSON reads back as the library's own model
    assert data[3]["open_questions"] == 2 and data[3]["deciding"] == ["I1", "E1"]
    assert data[0]["result"]["trial"] == "ADULT" and data[0]["result"]["verdict"] == "eligible"


def test_cli_table_and_top(ranked_lib: TrialLibrary, tmp_path: Path) -> None:
    patient = _write_patient(tmp_path / "p", "man", "male", "1956-01-01")
    result = _match_cli("--library", str(ranked_lib.root), "--patient", str(patient), "--top", "2", "--no-cache")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for column in ("rank", "trial", "verdict", "open questions", "title", "deciding"):
        assert column in out
    assert out.index("ADULT") < out.index("ELDERS") and "ONE-Q" not in out and "WOMEN" not in out


def test_cli_patient_folder_gives_one_ranking_each(ranked_lib: TrialLibrary, tmp_path: Path) -> None:
    folder = tmp_path / "patients"
    _write_patient(folder, "a-girl", "female", "2016-01-01")
    _write_patient(folder, "b-man", "male", "1956-01-01")
    (folder / ".c-editor-backup.json").write_text("{", encoding="utf-8")  # hidden: not a patient
    args = ("--library", str(ranked_lib.root), "--patient", str(folder), "--no-cache")
    data = json.loads(_match_cli(*args, "--format", "json").stdout)
    assert [(d["patient"], d["matches"][0]["trial"], d["matches"][0]["verdict"]) for d in data] == [
        ("a-girl", "ADULT", "ineligible"),
        ("b-man", "ADULT", "eligible"),
    ]
    table = _match_cli(*args).stdout
    assert table.count("patient a-girl") == 1 and table.count("patient b-man") == 1


def test_cli_uses_the_cache_folder(ranked_lib: TrialLibrary, tmp_path: Path) -> None:
    patient = _write_patient(tmp_path / "p", "w", "female", "1990-01-01")
    cache = tmp_path / "c"
    result = _match_cli("--library", str(ranked_lib.root), "--patient", str(patient), "--cache", str(cache))
    assert result.exit_code == 0, result.output
    assert len(list((cache / "trials").glob("*.json"))) == 5


@pytest.mark.parametrize(
    "args,says",
    [
        (["--format", "xml"], "--format"),
        (["--library", "{missing}"], "no such file"),
        (["--library", "{bad}"], "not valid JSON"),
    ],
)
def test_cli_errors(ranked_lib: TrialLibrary, tmp_path: Path, args: list[str], says: str) -> None:
    patient = _write_patient(tmp_path / "p", "w", "female", "1990-01-01")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.json").write_text("{", encoding="utf-8")
    subs = {"{missing}": str(tmp_path / "missing"), "{bad}": str(bad)}
    base = {"--library": str(ranked_lib.root), "--patient": str(patient)}
    for i in range(0, len(args), 2):
        base[args[i]] = subs.get(args[i + 1], args[i + 1])
    result = _match_cli(*[x for kv in base.items() for x in kv], "--no-cache")
    assert result.exit_code == 2 and says in result.output
    if args[1] == "{bad}":
        assert str(bad / "x.json") in result.output


def test_public_api_exports() -> None:
    for name in ("TrialLibrary", "LibraryTrial", "Match", "Question", "TrialCoverage", "questions"):
        assert name in eligibility.__all__ and hasattr(eligibility, name)
    assert eligibility.TrialCoverage is TrialCoverage


def test_the_leukaemia_library(shared_data: Path, tmp_path: Path) -> None:
    """The realistic library: 100 studies load, every id once, each with its coverage and conditions."""
    lib = TrialLibrary.load(shared_data / "ctgov" / "studies-100-leukaemia.json", cache=tmp_path)
    assert len(lib) == 100 and len({t.id for t in lib}) == 100
    assert all(t.conditions and t.rule_version.startswith("sha256:") for t in lib)
    labels = {t.coverage.label for t in lib}
    assert labels <= {"fully", "partly", "needs review"} and "partly" in labels
    matches = lib.match(_person("old", "male", date(1930, 1, 1)), as_of=AS_OF)
    assert len(matches) == 100 and matches == sorted(matches, key=rank_key)
    assert any(m.verdict == "ineligible" and "age" in m.deciding for m in matches)
    assert TrialLibrary.load(shared_data / "ctgov" / "studies-100-leukaemia.json", cache=tmp_path).trials == lib.trials
