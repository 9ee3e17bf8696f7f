"""A reviewer's verdict on a reading becomes a reviewed rule file (the format of ``rules/``) with a new version.

The file lives in ``DATA/reviewed-rules/<trial>.yaml`` and, once written, is the trial the worksheet
screens with (the library's own file is never edited). Confirming keeps the reading and says who confirmed
it; marking it wrong turns the criterion into ``review`` (a person decides it for every patient) with the
reviewer's reason. Text the trial could not screen stays unscreened: each piece becomes a ``review``
criterion, so a reviewed trial can never become easier to call eligible than the one it came from.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from ..concepts import default_vocabulary
from ..errors import EligibilityError
from ..library import LibraryTrial, TrialCoverage
from ..parse import read_criterion
from ..render import render
from ..trial import REVIEW, load_rule_file

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_REVISION = re.compile(r"^(?P<base>.*)-r(?P<n>\d+)$")


def reviewed_path(data_dir: Path, trial_id: str) -> Path:
    if not _SAFE_ID.fullmatch(trial_id) or ".." in trial_id:
        raise EligibilityError(f"trial id {trial_id!r} cannot name a file")
    return data_dir / "reviewed-rules" / f"{trial_id}.yaml"


def next_version(version: str) -> str:
    """'sha256:ab12' -> 'sha256:ab12-r1' -> 'sha256:ab12-r2'."""
    m = _REVISION.match(version)
    if m:
        return f"{m['base']}-r{int(m['n']) + 1}"
    return f"{version}-r1"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _readable(rule_text: str, kind: str) -> bool:
    try:
        read_criterion(rule_text, kind, default_vocabulary())
    except EligibilityError:
        return False
    return True


def write_reviewed(
    data_dir: Path, entry: LibraryTrial, criterion_id: str, action: str, reviewer: str, note: str, when: datetime,
) -> LibraryTrial:
    """Write the reviewed rule file for one more review and return the trial as it now reads."""
    trial = entry.trial
    version = next_version(entry.rule_version)
    stamp = when.strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Reviewed rule file for {trial.id}, written by the coordinator worksheet; format: rules/NCT06352281.yaml.",
        f"# Version {version}: {action} of {criterion_id} by {reviewer} at {stamp}.",
        f"trial: {trial.id}",
        f"version: {_q(version)}",
    ]
    if trial.title:
        lines.append(f"title: {_q(trial.title)}")
    if trial.conditions:
        lines.append("conditions:")
        lines += [f"  - {_q(c)}" for c in trial.conditions]
    notes = [*trial.notes, f"{criterion_id}: reading {'confirmed' if action == 'confirm' else 'marked wrong'} by "
             f"{reviewer} at {stamp}" + (f" ({note})" if note else "")]
    lines.append("notes:")
    lines += [f"  - {_q(x)}" for x in notes]
    lines.append("criteria:")
    for c in trial.criteria:
        rule = REVIEW if c.coverage == "none" else render(c.rule)
        crit_note = c.note or ""
        if c.id == criterion_id and action == "wrong":
            rule = REVIEW
            crit_note = f"reviewer {reviewer} marked the reading wrong ({note or 'no reason given'}); it was: " + (
                render(c.rule)
            )
        elif rule != REVIEW and not _readable(rule, c.kind):
            rule = REVIEW
            crit_note = (crit_note + "; " if crit_note else "") + "its reading could not be written as a rule"
        lines += [f"  - id: {c.id}", f"    kind: {c.kind}", f"    text: {_q(c.text)}", f"    rule: {_q(rule)}"]
        if crit_note:
            lines.append(f"    note: {_q(crit_note)}")
    for u in trial.unscreened:
        lines += [
            f"  - id: {_q('unscreened-' + u.id)}",
            "    kind: inclusion",
            f"    text: {_q(u.text or u.reason)}",
            f"    rule: {REVIEW}",
            f"    note: {_q('not screened in the source: ' + u.reason)}",
        ]
    path = reviewed_path(data_dir, trial.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_rule_file(tmp)  # refuse to install a file that does not load
    tmp.replace(path)
    return load_reviewed(path, entry)


def load_reviewed(path: Path, entry: LibraryTrial) -> LibraryTrial:
    trial = load_rule_file(path)
    return LibraryTrial(
        id=trial.id,
        title=trial.title or entry.title,
        conditions=list(trial.conditions) or entry.conditions,
        source=f"reviewed-rules/{path.name} (from {entry.source})",
        rule_version=trial.version or next_version(entry.rule_version),
        trial=trial,
        coverage=TrialCoverage.of(trial),
    )
