"""A real worksheet server on loopback for tests: a plain FastAPI app (with a stand-in /cds-services route, to
show the worksheet leaves the app's own routes alone) + mount_worksheet, under uvicorn in a thread."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from eligibility.library import TrialLibrary
from eligibility.store import open_store
from eligibility.store.users import add_user
from eligibility.web import mount_worksheet

ROOT = Path(__file__).resolve().parents[1]
SYNTHEA = ROOT.parent / "shared" / "data" / "fhir" / "synthea"
TOM = "Tom_Goodwin_e20de9eb-6f2d-4871-a43f-bbede53293ed.json"
TOM_ID = "da2c7b0a-791a-4b8f-9a30-dc3d8cf1ec75"
USERS = {
    "cora": ("coordinator", "cora-password-1"),
    "ivan": ("investigator", "ivan-password-1"),
    "rhea": ("reviewer", "rhea-password-1"),
}


@dataclass
class Running:
    url: str
    data: Path
    library: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Settings:
    """What ``mount_worksheet`` reads from the server's settings object."""

    database_url: str | None = None


def run_worksheet(tmp_path: Path, database_url: str | None = None, log_level: str = "warning") -> Iterator[Running]:
    """Start the server (a test module wraps this in its own ``worksheet`` fixture) and stop it after."""
    if not (SYNTHEA / TOM).is_file():
        pytest.skip("../shared/data/fhir/synthea is not beside this checkout")
    data = tmp_path / "data"
    library = tmp_path / "library"
    shutil.copytree(ROOT / "rules", library)
    (data / "patients").mkdir(parents=True)
    shutil.copy(SYNTHEA / TOM, data / "patients" / TOM)
    store = open_store(data, database_url)
    with store.session() as db:
        for name, (role, password) in USERS.items():
            add_user(db, name, role, password)
    store.close()
    app = FastAPI()

    @app.get("/cds-services")
    def discovery() -> dict[str, list[object]]:
        return {"services": []}

    mount_worksheet(app, library=TrialLibrary.load(library, cache=False), data_dir=data,
                    settings=Settings(database_url))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    else:
        server.should_exit = True
        pytest.fail("the worksheet server did not start")
    try:
        yield Running(f"http://127.0.0.1:{port}", data, library)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
