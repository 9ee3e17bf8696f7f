"""Unit answers kept between processes (eligibility.unit_memo): the same answers, without pint the second time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .fresh_process import cache_env

ROOT = Path(__file__).resolve().parents[1]

# Each line: a canonical spelling, a conversion (plain, by molar mass, affine HbA1c) or the refusal's message.
PROBE = """
import json, sys
from eligibility.concepts import default_vocabulary
from eligibility.errors import UnitError
from eligibility.units import canonical_unit, conversion
hba1c = default_vocabulary().concepts["hba1c"].affine
out = []
for call in (
    lambda: canonical_unit("K/uL"),
    lambda: canonical_unit("furlongs/fortnight"),
    lambda: canonical_unit("G/l"),
    lambda: repr(conversion("mg/dL", "µmol/L", 113.12)),
    lambda: repr(conversion("mg/dL", "U/L")),
    lambda: repr(conversion("mmol/mol", "%", None, hba1c)),
    lambda: repr(conversion("°F", "°C")),
):
    try:
        out.append(call())
    except UnitError as exc:
        out.append("UnitError: " + str(exc))
print(json.dumps({"answers": out, "pint": "pint" in sys.modules}))
"""


def _probe(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, cwd=ROOT, env=env, check=True, text=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**cache_env(tmp_path / "c"), **extra}


def test_kept_answers_are_the_computed_ones_and_need_no_pint(tmp_path: Path) -> None:
    without = _probe(_env(tmp_path, ELIGIBILITY_NO_CACHE="1"))
    assert without["pint"] is True
    assert not (tmp_path / "c").exists()
    cold = _probe(_env(tmp_path))
    (memo,) = (tmp_path / "c" / "startup").glob("units-*.json")
    warm = _probe(_env(tmp_path))
    assert without["answers"] == cold["answers"] == warm["answers"]
    answers = warm["answers"]
    assert isinstance(answers, list) and answers[0] == "10^3/µL" and answers[1].startswith("UnitError: ")
    assert "ambiguous" in answers[2]
    assert warm["pint"] is False  # every answer came from the memo
    kept = json.loads(memo.read_text())
    assert any(v[0] == "error" for v in kept["canonical"].values())


def test_a_memo_of_the_wrong_shape_is_computed_again(tmp_path: Path) -> None:
    expected = _probe(_env(tmp_path, ELIGIBILITY_NO_CACHE="1"))["answers"]
    _probe(_env(tmp_path))
    (memo,) = (tmp_path / "c" / "startup").glob("units-*.json")
    kept = json.loads(memo.read_text())
    kept["canonical"] = {k: ["ok", 5] for k in kept["canonical"]}  # not a unit
    kept["conversion"] = {k: ["ok", {"scale": "x"}] for k in kept["conversion"]}  # not a conversion
    memo.write_text(json.dumps(kept))
    again = _probe(_env(tmp_path))
    assert again["answers"] == expected and again["pint"] is True
    memo.write_text("{not json")
    assert _probe(_env(tmp_path))["answers"] == expected
