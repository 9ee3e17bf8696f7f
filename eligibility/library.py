"""A trial library: a folder of trials compiled once, then screened many times, one patient at a time.

The folder holds reviewed rule files (``*.yaml``), ClinicalTrials.gov API v2 study JSON (one study, an
array, or ``{"studies": [...]}``) and plain criteria text (``*.txt``, the trial named after the file).
Reading free-text criteria is the slow part (seconds for 100 studies), so compiled trials are kept in a
cache (:mod:`eligibility.library_cache`) keyed by the file's content, the engine's own source and the
vocabulary: a changed file, engine or vocabulary is never served stale.

Trial ids resolve only to trials inside the library: :meth:`TrialLibrary.get` looks an id up among the
loaded trials and never turns it into a path.

>>> from datetime import date
>>> from eligibility.patient import Patient
>>> lib = TrialLibrary.load(rules_dir(), cache=False)
>>> ranked = lib.match(Patient(id="p0", sex="female", birth_date=date(1990, 1, 1)), as_of=date(2026, 1, 1))
>>> [(m.trial, m.verdict) for m in ranked]  # aged 36: too old for the paediatric NCT06168851
[('NCT06352281', 'needs-review'), ('NCT06168851', 'ineligible')]
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .api import ScreeningResult
from .concepts import Vocabulary, default_vocabulary
from .errors import InputError
from .evaluate import OpenKind
from .io.ctgov import read_ctgov_json
from .io.files import read_bytes
from .patient import Patient
from .screen_plan import ScreenPlan
from .trial import Trial, coverage_counts, load_rule_file, load_trials, rules_dir, trial_files, trial_from_study

__all__ = ["LibraryTrial", "Match", "Question", "TrialCoverage", "TrialLibrary", "questions", "rules_dir"]

Verdict = Literal["eligible", "ineligible", "needs-review"]
_RULE_SUFFIXES = (".yaml", ".yml")


class TrialCoverage(BaseModel):
    """How much of a trial the engine reads: criteria read fully / partly / not at all, and source text
    that no criterion screens. The same counts as ``eligibility parse --summary``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    fully: int
    partly: int
    unread: int
    unscreened: int
    label: Literal["fully", "partly", "needs review"]

    @classmethod
    def of(cls, trial: Trial) -> TrialCoverage:
        """``fully`` when every criterion is computable and all text is screened; ``needs review`` when no
        criterion is fully computable; ``partly`` in between."""
        counts = coverage_counts(trial)
        fully, partly, unread = counts["full"], counts["partial"], counts["none"]
        label: Literal["fully", "partly", "needs review"]
        if fully and not (partly or unread or trial.unscreened):
            label = "fully"
        elif fully:
            label = "partly"
        else:
            label = "needs review"
        return cls(fully=fully, partly=partly, unread=unread, unscreened=len(trial.unscreened), label=label)


class LibraryTrial(BaseModel):
    """One compiled trial of the library and where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    title: str
    conditions: list[str]
    source: str
    rule_version: str
    trial: Trial
    coverage: TrialCoverage


class Match(BaseModel):
    """One trial's verdict for one patient, with what decided it. ``model_dump(mode="json")`` is the JSON
    contract of ``eligibility match``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    trial: str
    title: str
    verdict: Verdict
    open_questions: int
    deciding: list[str]
    result: ScreeningResult


class Question(BaseModel):
    """An unknown criterion put as a question: what to ask and which data would decide it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    criterion: str
    kind: Literal["inclusion", "exclusion"]
    text: str
    ask: str
    decide_by: list[str]
    explanation: str


def questions(result: ScreeningResult) -> list[Question]:
    """The unknown criteria of a result as questions, in the trial's order.

    ``decide_by`` lists the data that would settle each (a lab, a date, a coordinator's answer).
    """
    out = []
    for c in result.criteria:
        if c.status != "unknown":
            continue
        ask = f"Does the patient meet: {c.text}?" if c.kind == "inclusion" else f"Does this apply: {c.text}?"
        decide = list(c.missing) or [f"coordinator review: {c.text}"]
        out.append(
            Question(criterion=c.id, kind=c.kind, text=c.text, ask=ask, decide_by=decide, explanation=c.explanation)
        )
    return out


def _match(entry: LibraryTrial, result: ScreeningResult) -> Match:
    status = "fail" if result.verdict == "ineligible" else "unknown"
    unknown = sum(1 for c in result.criteria if c.status == "unknown")
    # model_construct: typed values built here, as in api.screening_result
    return Match.model_construct(
        trial=entry.id,
        title=entry.title,
        verdict=result.verdict,
        open_questions=unknown,
        deciding=[c.id for c in result.criteria if c.status == status],
        result=result,
    )


def rank_key(m: Match) -> tuple[int, int, str]:
    """Eligible first, then needs-review by fewest open questions, then ineligible; ties by trial id."""
    order = {"eligible": 0, "needs-review": 1, "ineligible": 2}[m.verdict]
    return order, m.open_questions if m.verdict == "needs-review" else 0, m.trial


class TrialLibrary:
    """Compiled trials by id. Build with :meth:`load`; screen with :meth:`match`."""

    def __init__(
        self,
        trials: Iterable[LibraryTrial],
        root: Path | None = None,
        vocabulary: Vocabulary | None = None,
        errors: Iterable[InputError] = (),
    ):
        self.trials: tuple[LibraryTrial, ...] = tuple(trials)
        self.root = root
        self.vocabulary = vocabulary or default_vocabulary()
        self.errors: tuple[InputError, ...] = tuple(errors)
        self._by_id = {t.id: t for t in self.trials}
        if len(self._by_id) != len(self.trials):
            raise InputError("two trials have the same id", str(root) if root else None)
        self.plan = ScreenPlan((t.trial for t in self.trials), self.vocabulary)

    @classmethod
    def load(
        cls,
        path: str | Path,
        vocabulary: Vocabulary | None = None,
        *,
        strict: bool = True,
        cache: str | Path | bool = True,
    ) -> TrialLibrary:
        """Every trial of a folder (walked in name order; hidden entries skipped) or of one file.

        strict (the default): the first bad file, or a trial id defined twice, raises :class:`InputError`
        naming the file. ``strict=False`` keeps loading and lists the problems in :attr:`errors`.
        ``cache``: True for the user's cache folder, a folder, or False for none.
        """
        from .library_cache import TrialCache

        vocab = vocabulary or default_vocabulary()
        root = Path(path)
        if not root.exists():
            raise InputError("no such file or folder", str(root))
        base = root if root.is_dir() else root.parent
        store = TrialCache.open(cache, vocab)
        found: dict[str, LibraryTrial] = {}
        errors: list[InputError] = []
        for file in trial_files(root):
            source = file.relative_to(base).as_posix()
            try:
                compiled = store.get_or_compile(file, source, partial(compile_file, file, source, vocab))
            except InputError as exc:
                if strict:
                    raise
                errors.append(exc)
                continue
            for entry in compiled:
                if entry.id in found:
                    twice = f"trial {entry.id} is defined twice: in {found[entry.id].source} and in {source}"
                    if strict:
                        raise InputError(twice, str(file))
                    errors.append(InputError(twice + " (the first is kept)", str(file)))
                    continue
                found[entry.id] = entry
        return cls(found.values(), root=root, vocabulary=vocab, errors=errors)

    def __len__(self) -> int:
        return len(self.trials)

    def __iter__(self) -> Iterator[LibraryTrial]:
        return iter(self.trials)

    def __contains__(self, trial_id: object) -> bool:
        return trial_id in self._by_id

    def get(self, trial_id: str) -> LibraryTrial:
        """The trial of that id; an id that is not in the library (a path, '../x') is an InputError."""
        found = self._by_id.get(trial_id)
        if found is None:
            where = str(self.root) if self.root else None
            raise InputError(f"unknown trial id {trial_id!r} (the library holds {len(self.trials)} trials)", where)
        return found

    def match(
        self,
        patient: Patient,
        *,
        as_of: date | None = None,
        open_world: bool = False,
        trial_ids: Iterable[str] | None = None,
        open_kinds: Iterable[OpenKind] = (),
    ) -> list[Match]:
        """Screen the patient against every trial (or those named) and rank the matches (see :func:`rank_key`).

        ``open_kinds``: record kinds that could not be obtained ("condition", "medication", "procedure",
        "allergy"): no record of those is unknown, while the other kinds stay closed world."""
        chosen = self.trials if trial_ids is None else tuple(self.get(t) for t in trial_ids)
        day = as_of or date.today()
        # One context for all trials: records are matched to concepts once, and a sub-rule that several
        # trials share is evaluated once (see eligibility.screen_plan).
        ctx = self.plan.context(patient, day, open_world=open_world, open_kinds=open_kinds)
        matches = [_match(e, self.plan.screen(e.trial, ctx)) for e in chosen]
        return sorted(matches, key=rank_key)


def _digest(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]


def compile_file(path: Path, source: str, vocabulary: Vocabulary) -> list[LibraryTrial]:
    """Read one library file into compiled trials (no cache). Errors name the file.

    A rule file's version is its ``version:`` field, else its content hash; a CT.gov study's is the hash
    of its normalised record, so that editing one study of an array leaves the others' versions alone.
    """
    suffix = path.suffix.lower()
    if suffix == ".json":
        return [
            _entry(trial_from_study(study, vocabulary, origin=str(path)), source, _digest(study.model_dump_json()))
            for study in read_ctgov_json(path)
        ]
    content = read_bytes(path)
    if suffix in _RULE_SUFFIXES:
        trial = load_rule_file(path, vocabulary)
        return [_entry(trial, source, trial.version or _digest(content))]
    return [_entry(t, source, _digest(content)) for t in load_trials(path, vocabulary)]  # criteria text


def _entry(trial: Trial, source: str, version: str) -> LibraryTrial:
    return LibraryTrial(
        id=trial.id,
        title=trial.title or "",
        conditions=list(trial.conditions),
        source=source,
        rule_version=version,
        trial=trial,
        coverage=TrialCoverage.of(trial),
    )
