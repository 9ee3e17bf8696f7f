"""The Synthea bundles beside this checkout (``../shared/data/fhir``), for the tests that compare the hook's fast
FHIR reads (service/lean_fhir.py, service/lean_read.py) with the full read on the same bundles."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from eligibility.service.lean_fhir import prune

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BUNDLES = sorted([*(SHARED / "fhir").glob("synthea/*.json"), *(SHARED / "fhir").glob("synthea-195/*.json.gz")])


def load_bundle(path: Path) -> dict[str, Any]:
    """A bundle file as JSON (``.json`` or ``.json.gz``)."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def pruned(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle with each resource pruned to what the screening reads, as the hook reads a prefetch."""
    entries = [{**e, "resource": prune(e["resource"])} if "resource" in e else e for e in bundle["entry"]]
    return {**bundle, "entry": entries}
