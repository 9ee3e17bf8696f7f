"""`eligibility serve` as integrators run it (a subprocess with a TOML config), and config-file errors."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eligibility.errors import InputError
from eligibility.service.settings import build_settings, load_config, parse_trusted_issuer

from .conftest import HERE, ISS, Key, empty_prefetch, hook_body, make_token

EXE = Path(sys.executable).parent / "eligibility"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "service.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[servce]\ndev = true\n", "servce"),
        ("[service]\nfhir_deadline_seconds = -1\n", "service.fhir_deadline_seconds"),
        ("[service]\ncolour = 'blue'\n", "service.colour"),
        ("[[issuers]]\niss = 'https://a'\n", "issuers[0].jwks"),
        ("[[issuers]]\niss = ''\njwks = 'k.json'\n", "issuers[0].iss"),
        ("[[issuers]]\niss = 'https://a'\njwks = 'k.json'\nfhir = []\n", "issuers[0].fhir"),
    ],
)
def test_config_errors_name_the_file_and_field(text: str, field: str, tmp_path: Path) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_config(path)
    assert err.value.path == str(path) and err.value.field == field


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = _config(tmp_path, "[service\n")
    with pytest.raises(InputError, match="not valid TOML") as err:
        load_config(path)
    assert err.value.path == str(path)


def test_config_paths_are_relative_to_the_file_and_cli_issuers_add_up(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "[service]\nstate_dir = 'state'\ncors_origins = ['https://sandbox.cds-hooks.org']\n"
        "[[issuers]]\niss = 'https://ehr.example'\njwks = 'keys/jwks.json'\nfhir_servers = ['https://ehr.example/fhir/']\n",
    )
    settings = build_settings(path, issuers=(parse_trusted_issuer("https://b.example=https://b.example/jwks?v=2"),))
    assert settings.state_dir == tmp_path / "state"
    assert [i.iss for i in settings.issuers] == ["https://ehr.example", "https://b.example"]
    assert settings.issuers[0].jwks == str(tmp_path / "keys" / "jwks.json")
    assert settings.issuers[0].fhir_servers == ("https://ehr.example/fhir",)
    assert settings.issuers[1].jwks == "https://b.example/jwks?v=2"
    with pytest.raises(InputError):
        parse_trusted_issuer("https://no-key-set.example")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def _serving(
    tmp_path: Path, keys: list[Key], *options: str
) -> Iterator[tuple[subprocess.Popen[str], str, httpx.Response]]:
    """`eligibility serve` as a subprocess from a config file trusting ``ISS`` with ``keys`` (state folder
    ``tmp_path/state``), once it answers discovery: (the process, its base URL, the discovery response).
    Terminated and waited for on leaving, so its ``returncode`` is then set."""
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [key.jwk() for key in keys]}))
    config = _config(tmp_path, f"[service]\nstate_dir = 'state'\n[[issuers]]\niss = '{ISS}'\njwks = 'jwks.json'\n")
    port = _free_port()
    cmd = [str(EXE), "serve", "--library", str(HERE / "library"), "--port", str(port), "--config", str(config)]
    proc = subprocess.Popen([*cmd, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    discovery = client.get(base + "/cds-services")
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(
                            f"serve did not start: {proc.stderr.read() if proc.stderr else ''}"
                        ) from None
                    time.sleep(0.2)
        yield proc, base, discovery
    finally:
        proc.terminate()
        proc.wait(30)


def test_serve_runs_from_a_config_file(tmp_path: Path, keys: dict[str, Key]) -> None:
    with _serving(tmp_path, [keys["es"], keys["rs"]]) as (_, base, discovery), httpx.Client(timeout=10) as client:
        assert discovery.json()["services"][0]["id"] == "trial-eligibility"
        url = base + "/cds-services/trial-eligibility"
        token = make_token(keys["rs"], url)
        response = client.post(url, json=hook_body(empty_prefetch()), headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200 and response.json()["cards"]
    audit: list[dict[str, Any]] = [json.loads(x) for x in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["issuer"] == ISS and audit[-1]["outcome"] == "cards"


def test_serve_with_a_bad_config_exits_2_naming_it(tmp_path: Path) -> None:
    config = _config(tmp_path, "[service]\nport = 'eighty'\n")
    cmd = [str(EXE), "serve", "--library", str(HERE / "library"), "--config", str(config)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert str(config) in done.stderr and "service.port" in done.stderr


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to see the workers")
def test_serve_with_workers_forks_them_shares_the_replay_cache_and_stops_them(
    tmp_path: Path, keys: dict[str, Key]
) -> None:
    with _serving(tmp_path, [keys["es"]], "--workers", "2") as (proc, base, _):
        workers = _children(proc.pid)
        assert len(workers) == 2
        url = base + "/cds-services/trial-eligibility"
        token = make_token(keys["es"], url)
        statuses = []
        for _ in range(4):  # a new connection each time: either worker may take it
            with httpx.Client(timeout=10) as fresh:
                auth = {"Authorization": f"Bearer {token}"}
                answer = fresh.post(url, json=hook_body(empty_prefetch()), headers=auth)
                statuses.append(answer.status_code)
        assert statuses == [200, 401, 401, 401]  # the replay cache is the state folder's, shared
    assert proc.returncode == 0
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # the workers stopped with it
    lines = (tmp_path / "state" / "audit.jsonl").read_text().splitlines()
    assert [json.loads(x)["outcome"] for x in lines] == ["cards"]


def test_serve_with_workers_and_no_state_folder_exits_2() -> None:
    cmd = [str(EXE), "serve", "--library", str(HERE / "library"), "--workers", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "state folder" in done.stderr
