"""Real parts for the service tests, all on 127.0.0.1: the app under uvicorn (in a thread, so its logs can be
captured), a small HTTP server for key sets and misbehaving FHIR servers, real ES384/RS384 keys, signed JWTs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from eligibility.library import TrialLibrary
from eligibility.service.app import create_app
from eligibility.service.settings import ServiceSettings, TrustedIssuer

HERE = Path(__file__).resolve().parent
ISS = "https://ehr.test.example"
OTHER_ISS = "https://other-ehr.test.example"
SERVICE = "trial-eligibility"


# ---- keys and tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    kid: str
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        algo = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        out: dict[str, Any] = algo.to_jwk(self.private.public_key(), as_dict=True)
        return {**out, "kid": self.kid, "alg": self.alg, "use": "sig"}


@pytest.fixture(scope="session")
def keys() -> dict[str, Key]:
    return {
        "es": Key("es-1", "ES384", ec.generate_private_key(ec.SECP384R1())),
        "rs": Key("rs-1", "RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "jku": Key("jku-1", "ES384", ec.generate_private_key(ec.SECP384R1())),
        "rogue": Key("es-1", "ES384", ec.generate_private_key(ec.SECP384R1())),  # same kid, not published
        "other": Key("other-1", "ES384", ec.generate_private_key(ec.SECP384R1())),
    }


def make_token(
    key: Key,
    aud: str,
    *,
    iss: str = ISS,
    headers: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {"iss": iss, "sub": "ehr-client-7", "aud": aud, "iat": now, "exp": now + 120}
    payload["jti"] = str(uuid.uuid4())
    payload.update(claims)
    for name in drop:
        payload.pop(name, None)
    head = {"kid": key.kid, "typ": "JWT", **(headers or {})}
    for name in [k for k, v in head.items() if v is None]:
        head.pop(name)
    return jwt.encode(payload, key.private, algorithm=key.alg, headers=head)


# ---- a small local HTTP server (key sets, misbehaving FHIR servers) ------------------------------------


@dataclass
class Route:
    status: int = 200
    body: Any = None
    delay: float = 0.0


@dataclass
class LocalHttp:
    """Answers GETs from a table of routes (path -> Route, or a function of the full path); records requests."""

    base: str = ""
    routes: dict[str, Route | Callable[[str], Route]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def answer(self, path: str) -> Route:
        route = self.routes.get(path.split("?", 1)[0])
        if route is None:
            return Route(
                404, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}
            )
        return route(path) if callable(route) else route


@pytest.fixture(scope="session")
def local_http() -> Iterator[LocalHttp]:
    state = LocalHttp()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.path, self.headers.get("Authorization")))
            route = state.answer(self.path)
            if route.delay:
                time.sleep(route.delay)
            body = json.dumps(route.body).encode() if route.body is not None else b""
            try:
                self.send_response(route.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="session")
def jwks_urls(local_http: LocalHttp, keys: dict[str, Key]) -> dict[str, str]:
    local_http.routes["/jwks.json"] = Route(body={"keys": [keys["es"].jwk(), keys["rs"].jwk()]})
    local_http.routes["/jku.json"] = Route(body={"keys": [keys["jku"].jwk()]})
    local_http.routes["/other.json"] = Route(body={"keys": [keys["other"].jwk()]})
    return {name: f"{local_http.base}/{name}.json" for name in ("jwks", "jku", "other")}


# ---- the service under uvicorn --------------------------------------------------------------------------


@dataclass
class Running:
    base: str
    settings: ServiceSettings
    app: Any

    @property
    def hook_url(self) -> str:
        return f"{self.base}/cds-services/{SERVICE}"

    @property
    def feedback_url(self) -> str:
        return f"{self.hook_url}/feedback"


def start_service(
    settings: ServiceSettings, library: TrialLibrary, mount: Callable[[Any], None] | None = None
) -> tuple[Running, Callable[[], None]]:
    app = create_app(settings, library)
    if mount is not None:
        mount(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, log_level="debug", lifespan="on", access_log=True)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        sock.close()

    return Running(f"http://127.0.0.1:{port}", settings, app), stop


@pytest.fixture(scope="session")
def library() -> TrialLibrary:
    return TrialLibrary.load(HERE / "library")


@pytest.fixture
def service_factory(
    library: TrialLibrary, jwks_urls: dict[str, str], local_http: LocalHttp, tmp_path: Path
) -> Iterator[Callable[..., Running]]:
    stops: list[Callable[[], None]] = []

    def factory(
        lib: TrialLibrary | None = None, mount: Callable[[Any], None] | None = None, **overrides: Any
    ) -> Running:
        issuers = overrides.pop(
            "issuers",
            (
                TrustedIssuer(
                    iss=ISS, jwks=jwks_urls["jwks"], jku=(jwks_urls["jku"],), fhir_servers=(local_http.base + "/fhir",)
                ),
                TrustedIssuer(iss=OTHER_ISS, jwks=jwks_urls["other"]),
            ),
        )
        fields: dict[str, Any] = {
            "issuers": issuers,
            "dev": True,
            "state_dir": tmp_path / "state",
            "fhir_deadline_seconds": 2.0,
        }
        fields.update(overrides)
        running, stop = start_service(ServiceSettings(**fields), lib or library, mount)
        stops.append(stop)
        return running

    yield factory
    for stop in stops:
        stop()


@pytest.fixture
def service(service_factory: Callable[..., Running]) -> Running:
    return service_factory()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


# ---- hook requests --------------------------------------------------------------------------------------

PATIENT_ID = "svc-patient-1"


def patient_resource(pid: str = PATIENT_ID, birth: str = "1975-04-02", gender: str = "female") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": "Quintrell", "given": ["Maribeth"]}],
        "identifier": [{"system": "urn:test:mrn", "value": "MRN-55012"}],
        "birthDate": birth,
        "gender": gender,
    }


def empty_prefetch(pid: str = PATIENT_ID, **patient: Any) -> dict[str, Any]:
    """Every template key: the Patient, and null (queried, nothing found) for the rest."""
    from eligibility.service.prefetch import PREFETCH

    out: dict[str, Any] = {k: None for k in PREFETCH}
    out["patient"] = patient_resource(pid, **patient)
    return out


def hook_body(prefetch: dict[str, Any] | None, pid: str = PATIENT_ID, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/prac-3", "patientId": pid},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


def outcome() -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing"}]}


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def call(client: httpx.Client, running: Running, key: Key, body: dict[str, Any], **token_args: Any) -> httpx.Response:
    token = make_token(key, running.hook_url, **token_args)
    return client.post(running.hook_url, json=body, headers={"Authorization": f"Bearer {token}"})
