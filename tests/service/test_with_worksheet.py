"""`serve --data`: the worksheet mounted at / leaves the CDS Hooks routes and their JWT auth as they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from eligibility.library import TrialLibrary

from .card_rules import response_problems
from .conftest import Key, Running, call, empty_prefetch, hook_body


def test_hooks_still_work_with_the_worksheet_mounted(
    service_factory: Any, client: httpx.Client, keys: dict[str, Key], library: TrialLibrary, tmp_path: Path
) -> None:
    try:
        from eligibility.web import mount_worksheet
    except ImportError as exc:  # the worksheet is another package of this repository, built separately
        pytest.skip(f"eligibility.web is not importable: {exc}")
    data = tmp_path / "worksheet"
    running: Running = service_factory(mount=lambda app: mount_worksheet(app, library=library, data_dir=data))
    assert client.get(running.base + "/cds-services").json()["services"][0]["id"] == "trial-eligibility"
    response = call(client, running, keys["es"], hook_body(empty_prefetch()))
    assert response.status_code == 200 and response_problems(response.json()) == []
    assert client.post(running.hook_url, json=hook_body(empty_prefetch())).status_code == 401  # no session login
    assert client.get(running.base + "/login").status_code == 200  # the worksheet answers beside them
