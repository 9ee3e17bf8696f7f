"""Trials: criteria with their readings, loaded from reviewed rule files or ClinicalTrials.gov JSON.

A rule file (``rules/NCT….yaml``) is one trial reviewed by a person: for each criterion its id,
kind, original text and the rule in the criteria language, or ``review`` when it is not
computable. Every mistake in a rule file is reported, not only the first.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from . import nodes as n
from .concepts import Vocabulary, default_vocabulary
from .errors import InputError, ParseError
from .io.ctgov import AgeLimit, RawCriterion, StudyRecord, read_ctgov_json, split_criteria
from .io.files import parse_yaml, read_text
from .parse import parse_criterion, read_criterion
from .parse.borderline import is_edge
from .parse.leadins import overridden, scope_items
from .parse.scope import settle_age_boundaries
from .render import render

Coverage = Literal["full", "partial", "none"]


class Criterion(BaseModel):
    """One criterion of a trial and the rule it is read as."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    kind: Literal["inclusion", "exclusion"]
    text: str
    rule: n.Rule
    note: str | None = None
    source: Literal["rule-file", "parsed", "structured"] = "parsed"

    @cached_property
    def reading(self) -> str:
        """The rule as criteria-language text (computed once: screening quotes it every time)."""
        return render(self.rule)

    @property
    def coverage(self) -> Coverage:
        """full: computable; partial: some clause needs review; none: nothing computable.

        A condition read in its narrow and wide sense (parse/borderline.py) is read in full: the text is
        understood, and only a record on the concept's edge is unknown. Any other ambiguity is partial.
        """
        leaves = [x for x in n.walk(self.rule) if not n.children(x)]
        open_ = [x for x in leaves if isinstance(x, n.Unparsed | n.Measurement)]
        if len(open_) == len(leaves):
            return "none"
        if open_ or any(isinstance(x, n.Ambiguous) and not is_edge(x) for x in n.walk(self.rule)):
            return "partial"
        return "full"


class Unscreened(BaseModel):
    """Source text of a trial that no criterion screens: text outside every section, or a missing criteria
    field. A trial with any can never be "eligible" (principle 1: eligible only when every line of the
    source criteria was screened and passed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    text: str
    reason: str

    def describe(self) -> str:
        quoted = f": '{_clip(self.text)}'" if self.text else ""
        return f"not screened ({self.id}, {self.reason}){quoted}"


class Trial(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    title: str | None = None
    criteria: tuple[Criterion, ...]
    notes: tuple[str, ...] = ()
    origin: str = ""
    unscreened: tuple[Unscreened, ...] = ()
    conditions: tuple[str, ...] = ()
    version: str | None = None


def _clip(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


REVIEW = "review"


def coverage_counts(trial: Trial) -> Counter[Coverage]:
    """How many criteria read fully, partly or not at all (``parse --summary`` and the trial library)."""
    counts: Counter[Coverage] = Counter({"full": 0, "partial": 0, "none": 0})
    counts.update(c.coverage for c in trial.criteria)
    return counts


# A trial id that names a file in rules/: letters, digits, '-' and '_' only, so that '../x' or '/etc/x'
# can never leave the folder (issue 15 item 21).
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def _rule_file_for_id(spec: str) -> Path | None:
    """The rule file in rules/ for a trial id, or None; never a path outside rules/."""
    if not _SAFE_ID.fullmatch(spec):
        return None
    folder = rules_dir().resolve()
    candidate = (folder / f"{spec}.yaml").resolve()
    return candidate if candidate.parent == folder and candidate.is_file() else None


def rules_dir() -> Path:
    """rules/ of the installed package or of the source checkout."""
    packaged = resources.files("eligibility").joinpath("rules")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1] / "rules"


def load_trial(spec: str | Path, vocabulary: Vocabulary | None = None) -> Trial:
    """A trial id found in rules/, a rule file (.yaml), or a ClinicalTrials.gov API v2 JSON file.

    >>> load_trial("NCT06352281").criteria[0].id
    'age'
    """
    from .trial_cache import cached_trial  # compiled trials kept between processes (start-up, issue 11)

    vocab = vocabulary or default_vocabulary()
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml") and path.exists():
        return cached_trial(path, "rule-file", vocab, lambda: load_rule_file(path, vocab))
    if path.suffix.lower() == ".txt" and path.exists():
        return cached_trial(path, "criteria-text", vocab, lambda: next(iter(load_trials(path, vocab))))
    if path.suffix.lower() == ".json" and path.exists():
        return cached_trial(path, "ctgov-study", vocab, lambda: _one_study(path, vocab))
    candidate = _rule_file_for_id(str(spec))
    if candidate is not None:
        return cached_trial(candidate, "rule-file", vocab, lambda: load_rule_file(candidate, vocab))
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in rules_dir().glob("*.yaml"))) or "none"
        raise InputError(f"no such file, and no rule file for a trial of that id (known: {known})", str(spec))
    raise InputError("expected a rule file (.yaml) or a ClinicalTrials.gov study (.json)", str(spec))


def _one_study(path: Path, vocab: Vocabulary) -> Trial:
    studies = read_ctgov_json(path)
    if len(studies) != 1:
        raise InputError(f"holds {len(studies)} studies; pass one study (or use 'parse' for many)", str(path))
    return trial_from_study(studies[0], vocab, origin=str(path))


TRIAL_SUFFIXES = (".yaml", ".yml", ".json", ".txt")


def trial_files(path: str | Path) -> list[Path]:
    """The trial files under a folder in name order (hidden files and folders skipped), or the path itself."""
    p = Path(path)
    if not p.is_dir():
        return [p]
    return [
        c
        for c in sorted(p.rglob("*"))
        if c.suffix.lower() in TRIAL_SUFFIXES
        and c.is_file()
        and not any(part.startswith(".") for part in c.relative_to(p).parts)
    ]


def load_trials(path: str | Path, vocabulary: Vocabulary | None = None) -> Iterator[Trial]:
    """Every trial in a file or folder: rule files, CT.gov JSON (all studies of an array), plain-text
    criteria documents (.txt, named after the file), walking folders in name order."""
    vocab = vocabulary or default_vocabulary()
    p = Path(path)
    if p.is_dir():
        for child in trial_files(p):
            yield from load_trials(child, vocab)
        return
    suffix = p.suffix.lower()
    if suffix == ".json":
        for study in read_ctgov_json(p):
            yield trial_from_study(study, vocab, origin=str(p))
    elif suffix == ".txt":
        text = read_text(p)
        yield trial_from_study(StudyRecord(nct_id=p.stem, criteria_text=text), vocab, origin=str(p))
    else:
        yield load_trial(p, vocab)


def load_rule_file(path: str | Path, vocabulary: Vocabulary | None = None) -> Trial:
    vocab = vocabulary or default_vocabulary()
    p = Path(path)
    data = parse_yaml(read_text(p), str(p))
    if not isinstance(data, dict):
        raise InputError("expected a mapping with 'trial' and 'criteria'", str(p))
    errors: list[str] = []
    trial_id = data.get("trial")
    if not isinstance(trial_id, str) or not trial_id:
        errors.append("field 'trial': a trial id is required")
    items = data.get("criteria")
    if not isinstance(items, list) or not items:
        errors.append("field 'criteria': a non-empty list is required")
        items = []
    criteria: list[Criterion] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"criteria[{i}]"
        crit = _criterion_from_yaml(item, where, vocab, errors)
        if crit is None:
            continue
        if crit.id in seen:
            errors.append(f"{where}.id: duplicate id '{crit.id}'")
        seen.add(crit.id)
        criteria.append(crit)
    raw_notes = data.get("notes") or []
    if not isinstance(raw_notes, list) or not all(isinstance(x, str) for x in raw_notes):
        # (a bare string was read one note per character)
        errors.append("field 'notes': a list of strings is needed, one note per item")
    if errors:
        raise InputError(f"{len(errors)} problem(s):\n  " + "\n  ".join(errors), str(p))
    notes = tuple(raw_notes)
    conditions = data.get("conditions") or []
    if not isinstance(conditions, list) or not all(isinstance(x, str) for x in conditions):
        raise InputError("expected a list of strings", str(p), "conditions")
    version = data.get("version")
    if version is not None and (not isinstance(version, str | int | float) or isinstance(version, bool)):
        raise InputError("expected a version string", str(p), "version")
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        raise InputError(f"expected text, not {_yaml_kind(title)}", str(p), "title")
    return Trial(
        id=str(trial_id),
        title=title,
        criteria=tuple(criteria),
        notes=notes,
        origin=str(p),
        conditions=tuple(conditions),
        version=None if version is None else str(version),
    )


def _yaml_kind(value: object) -> str:
    kinds = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "a mapping"}
    return next((name for t, name in kinds.items() if isinstance(value, t)), f"a {type(value).__name__}")


def _criterion_from_yaml(item: object, where: str, vocab: Vocabulary, errors: list[str]) -> Criterion | None:
    if not isinstance(item, dict):
        errors.append(f"{where}: expected a mapping with id, kind, text, rule")
        return None
    fields = ("id", "kind", "text", "rule", "note")
    wrong = [f"{k} ({_yaml_kind(item[k])})" for k in fields if item.get(k) is not None and not isinstance(item[k], str)]
    if wrong:  # a number, list or mapping where text belongs: say so, not "missing"
        errors.append(f"{where}: field(s) must be text: {', '.join(wrong)}")
        return None
    missing = [k for k in fields[:4] if not item.get(k)]
    if missing:
        errors.append(f"{where}: missing or empty field(s) {', '.join(missing)}")
        return None
    unknown = sorted(set(item) - {"id", "kind", "text", "rule", "note"})
    if unknown:
        errors.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    if item["kind"] not in ("inclusion", "exclusion"):
        errors.append(f"{where}.kind: '{item['kind']}' is not inclusion or exclusion")
        return None
    text, rule_text = item["text"], item["rule"].strip()
    if rule_text == REVIEW:
        rule: n.Node = n.Unparsed(text=text, reason="marked for coordinator review in the rule file")
    else:
        try:
            rule = read_criterion(rule_text, item["kind"], vocab)
        except ParseError as exc:
            errors.append(f"{where}.rule ({item['id']}): {exc}")
            return None
    return Criterion(id=item["id"], kind=item["kind"], text=text, rule=rule, note=item.get("note"), source="rule-file")


def _age_rule(lo: AgeLimit | None, hi: AgeLimit | None) -> tuple[n.Node, str] | None:
    """ClinicalTrials.gov age bounds, inclusive: maximum 75 Years admits 75 years and 11 months."""

    def in_unit(limit: AgeLimit) -> tuple[float, str]:
        if limit.unit in ("years", "months"):
            return limit.value, limit.unit
        days = limit.value * (7 if limit.unit == "weeks" else 1)
        return days / 30.4375, "months"

    parts: list[n.Node] = []
    texts = []
    if lo is not None and lo.value > 0:
        value, unit = in_unit(lo)
        parts.append(n.Age(op=">=", value=value, unit=unit))
        texts.append(f"Minimum age {lo.text}")
    if hi is not None:
        value, unit = in_unit(hi)
        parts.append(n.Age(op="<=", value=value, unit=unit))
        texts.append(f"Maximum age {hi.text}")
    if not parts:
        return None
    if (
        len(parts) == 2
        and isinstance(parts[0], n.Age)
        and isinstance(parts[1], n.Age)
        and parts[0].unit == parts[1].unit
    ):
        return n.Age(op="between", value=parts[0].value, value2=parts[1].value, unit=parts[0].unit), "; ".join(texts)
    return (parts[0] if len(parts) == 1 else n.And(items=tuple(parts))), "; ".join(texts)


def structured_criteria(study: StudyRecord) -> list[Criterion]:
    """The structured eligibility fields as criteria ``age`` and ``sex``."""
    out: list[Criterion] = []
    age = _age_rule(study.minimum_age, study.maximum_age)
    if age is not None:
        out.append(Criterion(id="age", kind="inclusion", text=age[1], rule=age[0], source="structured"))
    if study.sex in ("FEMALE", "MALE"):
        sex = "female" if study.sex == "FEMALE" else "male"
        out.append(
            Criterion(
                id="sex", kind="inclusion", text=f"Sex: {study.sex}", rule=n.Sex(sexes=(sex,)), source="structured"
            )
        )
    return out


def trial_from_study(study: StudyRecord, vocabulary: Vocabulary | None = None, origin: str = "") -> Trial:
    """Read every criterion of a study; what does not read becomes Unparsed (needs review)."""
    vocab = vocabulary or default_vocabulary()
    criteria = structured_criteria(study)
    notes = list(study.notes)
    if study.healthy_volunteers is not None:
        notes.append(
            "accepts healthy volunteers: "
            + ("yes" if study.healthy_volunteers else "no")
            + " (informational; the condition criteria decide)"
        )
    unscreened: list[Unscreened] = []
    text = study.criteria_text
    raws = split_criteria(text)
    if not text.strip():
        unscreened.append(Unscreened(id="criteria", text="", reason="the record has no eligibility criteria text"))
    elif not raws:
        unscreened.append(Unscreened(id="criteria", text=text.strip(), reason="no criterion could be found in it"))
    read: list[tuple[RawCriterion, n.Node]] = []
    for raw in raws:
        if raw.kind not in ("inclusion", "exclusion"):
            why = "outside an inclusion or exclusion section, so its kind is not known"
            unscreened.append(Unscreened(id=raw.id, text=raw.text, reason=why))
            continue
        read.append((raw, parse_criterion(raw.text, raw.kind, vocab)))
    bounds = [
        (a.value, a.unit) if a is not None and a.unit in ("years", "months") else None
        for a in (study.minimum_age, study.maximum_age)
    ]
    for raw, rule in _scoped(read, vocab):
        kind = "inclusion" if raw.kind == "inclusion" else "exclusion"
        rule, note = settle_age_boundaries(rule, kind, bounds[0], bounds[1])
        criteria.append(Criterion(id=raw.id, kind=kind, text=raw.text, rule=rule, note=note, source="parsed"))
    return Trial(
        id=study.nct_id,
        title=study.title,
        criteria=tuple(criteria),
        notes=tuple(notes),
        origin=origin,
        unscreened=tuple(unscreened),
        conditions=study.conditions,
    )


def _scoped(read: list[tuple[RawCriterion, n.Node]], vocab: Vocabulary) -> list[tuple[RawCriterion, n.Node]]:
    """Each criterion's reading under its headings (:mod:`eligibility.parse.leadins`), group by group.

    A group is a run of criteria of one kind under the same headings. A group of exceptions ("The
    following will not be excluded:") also leaves the criterion just above it unable to decide alone.
    """
    out: list[tuple[RawCriterion, n.Node]] = []
    i = 0
    while i < len(read):
        j = i + 1
        key = (read[i][0].kind, read[i][0].headings, read[i][0].heading_nested)
        while j < len(read) and (read[j][0].kind, read[j][0].headings, read[j][0].heading_nested) == key:
            j += 1
        group = read[i:j]
        if not key[1]:
            out.extend(group)
        else:
            scoped = scope_items(key[0], key[1], [(raw.text, rule) for raw, rule in group], vocab, key[2])
            if scoped.overrides_previous and out and out[-1][0].kind == key[0]:
                prev_raw, prev_rule = out[-1]
                out[-1] = (prev_raw, overridden(key[0], prev_rule, key[1][-1]))
            out.extend((raw, rule) for (raw, _), rule in zip(group, scoped.rules, strict=True))
        i = j
    return out


def draft_rule_file(trial: Trial, vocabulary: Vocabulary | None = None) -> str:
    """A rule file for a person to review: each criterion's reading, or 'review'."""
    vocab = vocabulary or default_vocabulary()
    lines = [
        f"# Draft rule file for {trial.id}, generated from {trial.origin or 'its record'}.",
        "# Review every rule against its text before use; 'review' means not computable.",
        f"trial: {trial.id}",
    ]
    if trial.title:
        lines.append(f"title: {_q(trial.title)}")
    lines.append("criteria:")
    for c in trial.criteria:
        rule = REVIEW if c.coverage == "none" else render(c.rule, vocab)
        lines += [f"  - id: {c.id}", f"    kind: {c.kind}", f"    text: {_q(c.text)}", f"    rule: {_q(rule)}"]
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
