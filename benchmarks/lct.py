"""The numeric-comparison extractor measured on the LCT development set, and the parse time of a corpus.

Run: ``python benchmarks/lct.py --lct ../shared/data/lct [--errors errors.jsonl]``.

Extracts comparisons from the documents listed in ``docs_1-10.txt`` (files under ``docs/batch*/``),
scores them with the corpus's own ``score.py`` (printing its output: the per-type / per-section / per-op
recall and the summary line), then times ``parse_criterion`` on every criterion of the LCT documents plus
the CT.gov studies in ``../ctgov`` beside the LCT folder. Figures only, never assertions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eligibility.extract import file_records
from eligibility.io.ctgov import read_ctgov_json, split_criteria
from eligibility.parse import parse_criterion


def _doc_paths(lct: Path) -> list[Path]:
    ids = [line.strip() for line in (lct / "docs_1-10.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    found = {p.stem: p for p in lct.glob("docs/batch*/*.txt")}
    missing = [i for i in ids if i not in found]
    if missing:
        print(f"warning: {len(missing)} listed documents not found (e.g. {missing[0]})", file=sys.stderr)
    return [found[i] for i in ids if i in found]


def _ctgov_texts(folder: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        for study in read_ctgov_json(path):
            texts.setdefault(study.nct_id, study.criteria_text)
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lct", type=Path, required=True, help="the LCT folder (score.py, gold_1-10.jsonl, docs/)")
    parser.add_argument("--ctgov", type=Path, help="CT.gov study JSON folder (default: ../ctgov beside --lct)")
    parser.add_argument("--errors", type=Path, help="also write score.py's false negatives / positives here")
    parser.add_argument("--pred", type=Path, help="keep the predictions here (default: a temporary file)")
    args = parser.parse_args()
    lct: Path = args.lct.resolve()
    ctgov: Path = (args.ctgov or lct.parent / "ctgov").resolve()

    docs = _doc_paths(lct)
    t0 = time.perf_counter()
    rows = [row for path in docs for row in file_records(path)]
    extract_seconds = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        pred = args.pred.resolve() if args.pred else Path(tmp) / "pred.jsonl"
        with pred.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        cmd = [sys.executable, "score.py", "--gold", "gold_1-10.jsonl", "--pred", str(pred), "--docs", "docs_1-10.txt"]
        if args.errors:
            cmd += ["--errors", str(args.errors.resolve())]
        out = subprocess.run(cmd, cwd=lct, capture_output=True, text=True, check=False)
        sys.stdout.write(out.stdout)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            raise SystemExit(out.returncode)
    print(f"extraction: {len(docs)} documents, {len(rows)} comparisons in {extract_seconds:.2f} s")

    # parse time: every criterion of the LCT documents and of the CT.gov studies
    texts = {p.stem: p.read_text(encoding="utf-8") for p in docs}
    n_lct = len(texts)
    if ctgov.is_dir():
        for nct, text in _ctgov_texts(ctgov).items():
            texts.setdefault(nct, text)
    criteria = [(c.text, c.kind) for text in texts.values() for c in split_criteria(text)]
    t0 = time.perf_counter()
    for text, kind in criteria:
        parse_criterion(text, kind)
    parse_seconds = time.perf_counter() - t0
    print(
        f"parse: {len(texts)} documents ({n_lct} lct + {len(texts) - n_lct} ctgov), {len(criteria)} criteria"
        f" in {parse_seconds:.2f} s (target < 15 s)"
    )


if __name__ == "__main__":
    main()
