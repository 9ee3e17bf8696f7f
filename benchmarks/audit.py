"""The soundness audit: a seeded sample of the engine's readings for people to judge, and its figures.

Run:
  ``python benchmarks/audit.py sample --n 300 --seed 10 --out benchmarks/audit/sample-seed10.jsonl [PATH ...]``
  ``python benchmarks/audit.py score benchmarks/audit/sample-seed10.jsonl [MORE.jsonl ...]``
  ``python benchmarks/audit.py carry OLD.jsonl [--against NEW.jsonl] [--out MERGED.jsonl] [PATH ...]``
  ``python benchmarks/audit.py --rubric``

Only *readings* are audited: criteria with something computable (coverage full or partial). A
criterion read as nothing is always unknown, hence trivially sound. The CT.gov structured age/sex
fields are skipped unless ``--include-structured``. Each reading has a ``key`` (a hash of trial,
kind, text and reading), so a judgement carries over to a later run exactly when the reading did not
change; ``carry`` lists the readings that changed, for re-judging. Figures only, never assertions.

Rubric for judges
-----------------
Judge the reading ("read as"), not the text, against what a clinician reading the text means:

- **unsound**: for some plausible patient record, the reading gives a definite pass or fail that
  contradicts the text (e.g. it excludes a patient the text admits, or admits one it excludes);
- **doubtful**: whether it contradicts the text depends on a debatable reading of the text;
- **sound**: every definite answer it can give agrees with the text. An unknown is always sound, so
  a reading that keeps the hard part as "needs review" is sound when its computable part is.

Remember:

- inclusion: the reading *true* means the criterion is satisfied (pass);
- exclusion: the reading describes who is *excluded* (true = excluded, fail);
- conditions, medications and procedures: "no record" counts as absent only for a concept whose
  code set was reviewed as complete for its meaning (the sheet's concepts say which); for every other
  concept no record is unknown. A record of a code in the concept decides. Judge whether the concept
  the reading picked is wider or narrower than the text (a wider concept can give a false "has it");
- labs use the latest value within a look-back (90 days unless the reading says "within N days");
  no value is unknown; ULN/LLN multiples use the result's reference range;
- an *ambiguous* node decides only when all its readings agree.

Patterns (a short label for unsound / doubtful): another-person, age-boundary, coordinated-exclusion,
analyte-variant, examples-list, broad-term, history-vs-current, sub-population, unit, other.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eligibility import nodes as n
from eligibility.concepts import Vocabulary, default_vocabulary, retired_icd10cm
from eligibility.trial import Criterion, Trial, load_trials

DEFAULT_CORPORA = ("../shared/data/lct/docs", "../shared/data/ctgov")
JUDGEMENTS = ("sound", "unsound", "doubtful")
PATTERNS = (
    "another-person",
    "age-boundary",
    "coordinated-exclusion",
    "analyte-variant",
    "examples-list",
    "broad-term",
    "history-vs-current",
    "sub-population",
    "unit",
    "other",
)
DEFAULT_LAB_LOOKBACK_DAYS = 90


@dataclass(frozen=True)
class Reading:
    """One audited criterion of one trial."""

    trial: Trial
    criterion: Criterion

    @property
    def key(self) -> str:
        c = self.criterion
        return reading_key(self.trial.id, c.kind, c.text, c.reading)


def reading_key(trial: str, kind: str, text: str, reading: str) -> str:
    """Stable across runs and machines: equal exactly when trial, kind, text and reading are equal."""
    blob = "\x1f".join((trial, kind, text, reading)).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def audited(criterion: Criterion, include_structured: bool) -> bool:
    """A reading is audited when something in it is computable (coverage none is always unknown)."""
    if criterion.coverage == "none":
        return False
    return include_structured or criterion.source != "structured"


def collect(paths: Iterable[str | Path], include_structured: bool = False) -> tuple[list[Reading], int]:
    """Every audited reading of the corpora in load order, one per key (a study present in two files
    counts once), and the number of trials read."""
    seen: set[str] = set()
    out: list[Reading] = []
    trials = 0
    for path in paths:
        for trial in load_trials(path):
            trials += 1
            for criterion in trial.criteria:
                if not audited(criterion, include_structured):
                    continue
                reading = Reading(trial, criterion)
                if reading.key not in seen:
                    seen.add(reading.key)
                    out.append(reading)
    return out, trials


def draw(readings: Sequence[Reading], size: int, seed: int) -> list[Reading]:
    """Uniform over readings (not per document), deterministic for a seed; kept in corpus order."""
    chosen = random.Random(seed).sample(range(len(readings)), min(size, len(readings)))
    return [readings[i] for i in sorted(chosen)]


def sheet_row(reading: Reading, vocab: Vocabulary | None = None) -> dict[str, Any]:
    """One row to judge. With a vocabulary the row keeps the glosses (concepts, codes, closed or open world)
    the judge saw, so that ``carry`` can tell a reading whose words are unchanged but whose codes changed."""
    c = reading.criterion
    row: dict[str, Any] = {"key": reading.key, "trial": reading.trial.id, "id": c.id, "kind": c.kind, "text": c.text}
    section = getattr(c, "section", None)
    if section:
        row["section"] = section
    row.update(reading=c.reading, coverage=c.coverage, judgement="", pattern="", comment="")
    if vocab is not None:
        row["gloss"] = glosses(c.rule, vocab)
    return row


# -- what each computable leaf means, in one line -------------------------------------------------


def _name(vocab: Vocabulary, concept: str) -> str:
    return vocab[concept].display if concept in vocab else concept


def _absence(vocab: Vocabulary, concept: str) -> str:
    """What "no record" means for the concept, by the same rule the evaluator applies (Vocabulary.complete)."""
    if concept in vocab and vocab.complete(concept):
        source = vocab[concept].extent_source or ""
        return f"no record = absent (code set reviewed as complete: {source})" if source else "no record = absent"
    return "no record = unknown (code set not reviewed as complete: open world)"


def _dur(d: n.Duration) -> str:
    return f"{d.amount:g} {d.unit}"


def _bound(b: n.Bound) -> str:
    extra = f" and {_dur(b.duration2)}" if b.duration2 else ""
    return f"{b.op} {_dur(b.duration)}{extra}"


def _threshold(op: str, value: float, value2: float | None, unit: str | None, relative: str | None) -> str:
    what = f"{value:g}" + (f" and {value2:g}" if value2 is not None else "")
    return f"{op} {what} {relative or unit or '(no unit)'}"


def leaf_gloss(leaf: n.Node, vocab: Vocabulary) -> str | None:
    """One line on what a computable leaf asks of the record; None for structure and open leaves."""
    if isinstance(leaf, n.Age):
        return f"age {_threshold(leaf.op, leaf.value, leaf.value2, leaf.unit, None)} (completed, at screening)"
    if isinstance(leaf, n.Sex):
        return "sex " + "/".join(leaf.sexes)
    if isinstance(leaf, n.Lab):
        days = leaf.lookback_days or DEFAULT_LAB_LOOKBACK_DAYS
        limits = _threshold(leaf.op, leaf.value, leaf.value2, leaf.unit, leaf.relative)
        return f"lab {_name(vocab, leaf.concept)} {limits}, latest in {days} d, none = unknown"
    if isinstance(leaf, n.LabResult):
        days = leaf.lookback_days or DEFAULT_LAB_LOOKBACK_DAYS
        return f"result {_name(vocab, leaf.concept)} {leaf.result}, latest in {days} d, none = unknown"
    if isinstance(leaf, n.Condition | n.Medication | n.Procedure):
        return _event_gloss(leaf, vocab)
    if isinstance(leaf, n.StableDose):
        return f"stable dose of {_name(vocab, leaf.concept)} for {_dur(leaf.duration)} (not taking also passes)"
    return None


def _event_gloss(leaf: n.Condition | n.Medication | n.Procedure, vocab: Vocabulary) -> str:
    label = {n.Condition: "condition", n.Medication: "drug", n.Procedure: "procedure"}[type(leaf)]
    when = getattr(leaf, "timing", "ever") if leaf.within is None else f"within {_dur(leaf.within)}"
    parts = [f"{label} {_name(vocab, leaf.concept)}", when]
    if isinstance(leaf, n.Condition) and leaf.duration:
        parts.append(f"since onset {_bound(leaf.duration)}")
    if isinstance(leaf, n.Medication) and leaf.consecutive_days:
        parts.append(f"consecutive {_bound(leaf.consecutive_days)}")
    if leaf.excluding:
        parts.append("except " + ", ".join(_name(vocab, x) for x in leaf.excluding))
    parts.append(_absence(vocab, leaf.concept))
    codes = _codes(vocab, leaf.concept)
    return ", ".join(parts) + (f"; codes: {codes}" if codes else "")


def _codes(vocab: Vocabulary, concept: str, shown: int = 24) -> str:
    """The concept's codes, so a judge can see whether its extent is wider or narrower than the text."""
    if concept not in vocab:
        return ""
    parts: list[str] = []
    members = [m for m in vocab.leaves(concept) if m != concept]
    if members:
        names = [_name(vocab, m) for m in members]
        more = f" and {len(names) - 10} more" if len(names) > 10 else ""
        parts.append("members " + ", ".join(names[:10]) + more)
    for leaf in vocab.leaves(concept):
        c = vocab[leaf]
        for system, listed in c.codes.items():
            if not listed:
                continue
            more = f" (+{len(listed) - shown})" if len(listed) > shown else ""
            head = f"{system} " + " ".join(listed[:shown]) + more
            if system == "icd10cm":
                head += " (with descendants)"
            parts.append(f"[{_name(vocab, leaf)}] {head}" if members else head)
        for system, listed in c.except_codes.items():
            if listed:
                parts.append(f"not {system} " + " ".join(listed[:shown]) + (" ..." if len(listed) > shown else ""))
    leaves = vocab.leaves(concept)
    listed_icd = [code.replace(".", "") for leaf in leaves for code in vocab[leaf].codes.get("icd10cm", ())]
    history = sorted(
        {code for leaf in vocab.leaves(concept) for system, listed in vocab[leaf].codes.items() for code in listed
         if vocab.is_history_code(system, code)}
        | {h for h in vocab.history.icd10cm if any(h.replace(".", "").startswith(c) for c in listed_icd)}
    )  # fmt: skip
    retired = sorted(
        old for old, new in retired_icd10cm().items() if any(new.startswith(c) for c in listed_icd)
    )  # older charts' codes (Z22.5x carriers of viral hepatitis) read as the FY2026 code that holds them
    if retired:
        parts.append("retired codes " + " ".join(retired[:shown]) + " read as their FY2026 successors inside")
    if history:
        parts.append(
            "personal-history codes " + " ".join(history[:shown]) + " satisfy only 'history of'; never 'current', "
            "and for 'within N' only as unknown when dated inside the window"
        )
    return "; ".join(parts)


def glosses(rule: n.Node, vocab: Vocabulary) -> list[str]:
    lines: list[str] = []
    for node in n.walk(rule):
        if isinstance(node, n.Ambiguous):
            lines.append(f"ambiguous ({node.reason}): decides only where all readings agree")
        elif isinstance(node, n.Unparsed | n.Measurement):
            lines.append("open part, always unknown: " + (node.text if isinstance(node, n.Unparsed) else node.name))
        else:
            gloss = leaf_gloss(node, vocab)
            if gloss:
                lines.append(gloss)
    return list(dict.fromkeys(lines))


def show(number: int, reading: Reading, vocab: Vocabulary) -> str:
    c = reading.criterion
    head = f"{number:3}. [{c.kind}] {reading.trial.id} {c.id} ({c.coverage}) key {reading.key}"
    lines = [head, f"     {c.text}", f"     read as: {c.reading}"]
    lines += [f"       - {g}" for g in glosses(c.rule, vocab)]
    return "\n".join(lines)


# -- judged files ---------------------------------------------------------------------------------


def read_sheets(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Rows of one or more judged files, one per key (a later file's row replaces an earlier one)."""
    rows: dict[str, dict[str, Any]] = {}
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or "key" not in row:
                raise SystemExit(f"{path}:{number}: expected an object with a 'key'")
            rows[str(row["key"])] = row
    return list(rows.values())


def write_sheet(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (sound at small n and near 0 or 1, unlike p +- z*se)."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def score_rows(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts by judgement, unsound/doubtful by pattern, and the sound share with its interval."""
    judged = [r for r in rows if str(r.get("judgement", "")).strip().lower() in JUDGEMENTS]
    invalid = [r for r in rows if str(r.get("judgement", "")).strip().lower() not in (*JUDGEMENTS, "")]
    counts = Counter(str(r["judgement"]).strip().lower() for r in judged)
    by_pattern: dict[str, Counter[str]] = {"unsound": Counter(), "doubtful": Counter()}
    for r in judged:
        verdict = str(r["judgement"]).strip().lower()
        if verdict in by_pattern:
            by_pattern[verdict][str(r.get("pattern") or "").strip().lower() or "(none)"] += 1
    total = len(judged)
    return {
        "rows": len(rows),
        "judged": total,
        "invalid": len(invalid),
        "counts": {j: counts[j] for j in JUDGEMENTS},
        "by_pattern": {k: dict(v.most_common()) for k, v in by_pattern.items()},
        "sound_share": counts["sound"] / total if total else 0.0,
        "sound_ci": wilson(counts["sound"], total),
    }


def print_score(figures: dict[str, Any]) -> None:
    total = figures["judged"]
    print(f"readings judged: {total} of {figures['rows']} (invalid judgements: {figures['invalid']})")
    for verdict in JUDGEMENTS:
        count = figures["counts"][verdict]
        print(f"  {verdict:9} {count:5}  {100 * count / total if total else 0:5.1f} %")
    for verdict, patterns in figures["by_pattern"].items():
        if patterns:
            print(f"{verdict} by pattern: " + ", ".join(f"{p} {c}" for p, c in patterns.items()))
    lo, hi = figures["sound_ci"]
    share = figures["sound_share"]
    print(f"sound: {100 * share:.1f} % (Wilson 95 % interval {100 * lo:.1f}-{100 * hi:.1f} %)")


# -- carry ----------------------------------------------------------------------------------------


def _match(row: dict[str, Any], criteria: Sequence[Criterion]) -> Criterion | None:
    """The current criterion an old row was about: the same kind and text. Not the same id: when the
    splitting changes, an id names another criterion, whose reading would be misreported as changed."""
    return next((c for c in criteria if c.kind == row.get("kind") and c.text == row.get("text")), None)


def carry_rows(
    old: Sequence[dict[str, Any]], current: dict[str, Sequence[Criterion]], vocab: Vocabulary | None = None
) -> list[dict[str, Any]]:
    """Old rows re-read with the current engine: ``status`` unchanged (judgement kept), changed
    (judgement cleared, the old one kept as ``previous_*``) or missing (the trial, or a criterion of
    that kind and text, is gone: the text is now split differently)."""
    out: list[dict[str, Any]] = []
    for row in old:
        crit = _match(row, current.get(str(row.get("trial")), ()))
        if crit is None:
            out.append({**row, "status": "missing"})
            continue
        new_key = reading_key(str(row["trial"]), crit.kind, crit.text, crit.reading)
        gloss = glosses(crit.rule, vocab) if vocab is not None and "gloss" in row else None
        if new_key == row["key"] and (gloss is None or gloss == row["gloss"]):
            out.append({**row, "status": "unchanged"})
            continue
        fresh = {**row, "key": new_key, "id": crit.id, "reading": crit.reading, "coverage": crit.coverage}
        if gloss is not None:
            fresh["gloss"] = gloss  # the same words over other codes: judged again
        fresh.update(judgement="", pattern="", comment="", status="changed")
        fresh.update(previous_reading=row.get("reading"), previous_judgement=row.get("judgement", ""))
        out.append(fresh)
    return out


def carry_against(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A new sheet with the old judgements filled in where the key (hence the reading) is unchanged."""
    judged = {r["key"]: r for r in old}
    by_text = {(r.get("trial"), r.get("kind"), r.get("text")): r for r in old}
    out: list[dict[str, Any]] = []
    for row in new:
        before = judged.get(row["key"])
        if before is not None:
            keep = {k: before.get(k, "") for k in ("judgement", "pattern", "comment")}
            out.append({**row, **keep, "status": "unchanged"})
            continue
        earlier = by_text.get((row.get("trial"), row.get("kind"), row.get("text")))
        if earlier is None:
            out.append({**row, "status": "new"})
        else:
            previous = {"previous_reading": earlier.get("reading"), "previous_judgement": earlier.get("judgement", "")}
            out.append({**row, "status": "changed", **previous})
    return out


def current_criteria(paths: Iterable[str | Path], trials: set[str]) -> dict[str, Sequence[Criterion]]:
    found: dict[str, Sequence[Criterion]] = {}
    for path in paths:
        for trial in load_trials(path):
            if trial.id in trials and trial.id not in found:
                found[trial.id] = trial.criteria
    return found


def print_carry(rows: Sequence[dict[str, Any]]) -> None:
    status = Counter(str(r.get("status")) for r in rows)
    print("carry: " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())))
    for r in rows:
        if r.get("status") == "changed":
            was = r.get("previous_judgement") or "-"
            print(f"  changed {r.get('trial')} {r.get('id')} [{r.get('kind')}] (was {was})")
            print(f"    text: {r.get('text')}\n    was:  {r.get('previous_reading')}\n    now:  {r.get('reading')}")
        elif r.get("status") == "missing":
            print(f"  missing {r.get('trial')} {r.get('id')} [{r.get('kind')}]: {r.get('text')}")


# -- command line ---------------------------------------------------------------------------------


def cmd_sample(args: argparse.Namespace) -> None:
    vocab = default_vocabulary()
    t0 = time.perf_counter()
    readings, trials = collect(args.paths or DEFAULT_CORPORA, args.include_structured)
    chosen = draw(readings, args.n, args.seed)
    seconds = time.perf_counter() - t0
    if not args.quiet:
        for number, reading in enumerate(chosen, 1):
            print(show(number, reading, vocab))
    if args.out:
        write_sheet(args.out, (sheet_row(r, vocab) for r in chosen))
    where = f", sheet {args.out}" if args.out else ""
    print(f"sample: {len(chosen)} of {len(readings)} readings in {trials} trials, seed {args.seed}{where}")
    print(f"sampling took {seconds:.2f} s")


def cmd_score(args: argparse.Namespace) -> None:
    print_score(score_rows(read_sheets(args.files)))


def cmd_carry(args: argparse.Namespace) -> None:
    old = read_sheets([args.old])
    if args.against:
        rows = carry_against(old, read_sheets([args.against]))
    else:
        trials = {str(r.get("trial")) for r in old}
        rows = carry_rows(old, current_criteria(args.paths or DEFAULT_CORPORA, trials), default_vocabulary())
    print_carry(rows)
    if args.out:
        write_sheet(args.out, rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rubric", action="store_true", help="print the rubric for judges and stop")
    sub = parser.add_subparsers(dest="command")
    sample = sub.add_parser("sample", help="draw readings at random and write a judging sheet")
    sample.add_argument("paths", nargs="*", help=f"corpora (default: {' '.join(DEFAULT_CORPORA)})")
    sample.add_argument("--n", type=int, default=300, help="readings to draw (default 300)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", type=Path, help="the judging sheet (JSONL)")
    sample.add_argument("--include-structured", action="store_true", help="also the CT.gov age/sex fields")
    sample.add_argument("--quiet", action="store_true", help="do not print the readings")
    score = sub.add_parser("score", help="figures of one or more judged sheets")
    score.add_argument("files", nargs="+", type=Path)
    carry = sub.add_parser("carry", help="which judged readings the current engine reads differently")
    carry.add_argument("old", type=Path, help="a judged sheet")
    carry.add_argument("paths", nargs="*", help="corpora to re-read (default: the sample defaults)")
    carry.add_argument("--against", type=Path, help="a new sheet to fill from the old one, instead of re-reading")
    carry.add_argument("--out", type=Path, help="write the carried rows here")
    return parser


def rubric() -> str:
    doc = __doc__ or ""
    return doc[doc.index("Rubric for judges") :].strip()


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.rubric:
        print(rubric())
        return
    commands = {"sample": cmd_sample, "score": cmd_score, "carry": cmd_carry}
    if args.command not in commands:
        parser.print_help(sys.stderr)
        raise SystemExit(2)
    commands[args.command](args)


if __name__ == "__main__":
    main()
