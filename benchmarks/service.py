"""CDS Hooks service load benchmark: N concurrent clients on loopback, with prefetch and with the FHIR fallback.

Starts ``eligibility serve`` as a subprocess (so the clients do not share its interpreter) with the
100-study leukaemia library, a generated ES384 key in a JWKS file and, for the fallback, Medplum's in-memory
FHIR server (tests/fhir_server, needs ``npm ci`` there) loaded with the Synthea chart whose screening-relevant
resources (the prefetch templates' searches) come closest to ``--resources`` (default 1,000). Each request
carries a fresh signed token (signed before timing). Bounded: ``--clients`` threads, ``--requests`` calls
per scenario, and ``--max-seconds`` per scenario. Prints median, p95 and max latency; figures, never
assertions.

Run: ``python benchmarks/service.py [--clients 4] [--requests 60] [--page-size 50] [--workers 1]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
DATA = ROOT.parent / "shared" / "data"
LIBRARY = DATA / "ctgov" / "studies-100-leukaemia.json"
SYNTHEA = DATA / "fhir" / "synthea-195"
SERVER_DIR = ROOT / "tests" / "fhir_server"
ISS = "https://bench-ehr.example"
FHIR_TOKEN = "bench-fhir-token"
SEARCHED = {
    "Condition": "conditions",
    "MedicationRequest": "medicationRequests",
    "MedicationStatement": "medicationStatements",
    "Procedure": "procedures",
    "AllergyIntolerance": "allergies",
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _prefetch_of(bundle: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
    """(patient id, the prefetch an EHR would send for our templates, number of resources in it).

    Synthea's transaction bundles refer to the patient by urn:uuid; an EHR's searches return Patient/<id>,
    so the references are rewritten (otherwise the mapper drops every record as another patient's).
    """
    refs = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    text = json.dumps(bundle)
    for urn, ref in refs.items():
        if urn.startswith("urn:uuid:") and urn in text:
            text = text.replace(f'"{urn}"', f'"{ref}"')
    bundle = json.loads(text)
    keys: dict[str, list[dict[str, Any]]] = {k: [] for k in (*SEARCHED.values(), "labs", "vitals")}
    patient: dict[str, Any] = {}
    for entry in bundle["entry"]:
        r = entry["resource"]
        t = r["resourceType"]
        if t == "Patient":
            patient = r
        elif t in SEARCHED:
            keys[SEARCHED[t]].append(r)
        elif t == "Observation":
            cats = {c.get("code") for cat in r.get("category", []) for c in cat.get("coding", [])}
            if "laboratory" in cats:
                keys["labs"].append(r)
            elif "vital-signs" in cats:
                keys["vitals"].append(r)
    prefetch: dict[str, Any] = {"patient": patient}
    for key, resources in keys.items():
        prefetch[key] = (
            {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
            if resources
            else None
        )
    return patient["id"], prefetch, sum(len(v) for v in keys.values()) + 1


def _choose_patient(target: int) -> tuple[Path, str, dict[str, Any], int]:
    best: tuple[int, Path, str, dict[str, Any], int] | None = None
    for path in sorted(SYNTHEA.glob("*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            pid, prefetch, n = _prefetch_of(json.load(f))
        if best is None or abs(n - target) < best[0]:
            best = (abs(n - target), path, pid, prefetch, n)
    assert best is not None
    return best[1], best[2], best[3], best[4]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(url: str, proc: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the process for {url} exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up in {seconds} s")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children (``serve --workers``), from Linux /proc, to
    tell work from waiting on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(k) for k in children.read_text().split()] if children.exists() else []
    return own + sum(_cpu_seconds(k) for k in kids)


def _worker_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each ``serve --workers`` child (the parent itself when it has none)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(k) for k in children.read_text().split()] if children.exists() else []
    return {k: _cpu_seconds(k) for k in kids} if kids else {pid: _cpu_seconds(pid)}


def _run(
    name: str,
    hook_url: str,
    body: dict[str, Any],
    key: Any,
    clients: int,
    requests: int,
    max_seconds: float,
    server_pids: tuple[int, ...],
) -> None:
    now = int(time.time())
    tokens = [
        jwt.encode(
            {"iss": ISS, "sub": "bench", "aud": hook_url, "iat": now, "exp": now + 590, "jti": str(uuid.uuid4())},
            key,
            algorithm="ES384",
            headers={"kid": "bench-1"},
        )
        for _ in range(requests + clients)
    ]
    warmups, timed = tokens[:clients], tokens[clients:]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + max_seconds
    issued = 0

    incomplete = 0  # answers whose chart lacked something (e.g. a fetch cut by the deadline)
    # Encoded once: an EHR's encoding of its request is not the service's work, and on 2 shared cores the
    # clients' encoding (~10 ms for 700 KB) would compete with the server for CPU.
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()  # as httpx
    sent = {"Content-Type": "application/json"}

    def worker(n: int) -> None:
        nonlocal issued, incomplete
        with httpx.Client(timeout=60) as client:
            # one warm-up call per client (connection set-up), not counted
            client.post(hook_url, content=content, headers={**sent, "Authorization": f"Bearer {warmups[n]}"})
            while True:
                with lock:
                    if issued >= requests or time.monotonic() > stop_at:
                        return
                    token = timed[issued]
                    issued += 1
                t0 = time.perf_counter()
                r = client.post(hook_url, content=content, headers={**sent, "Authorization": f"Bearer {token}"})
                dt = (time.perf_counter() - t0) * 1000
                with lock:
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code == 200:
                        latencies.append(dt)
                        cards = r.json().get("cards") or [{}]
                        incomplete += "chart incomplete" in str(cards[0].get("summary", ""))

    wall = time.perf_counter()
    cpu = [_cpu_seconds(p) for p in server_pids]
    per_worker = _worker_cpu(server_pids[0])
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - wall
    cpu = [_cpu_seconds(p) - c for p, c in zip(server_pids, cpu, strict=True)]
    # A keep-alive connection stays with the worker that accepted it, so 4 clients on 2 workers may be split
    # 2/2 or 3/1 (or 4/0): the shares of the service's CPU tell which it was.
    used = [t - per_worker.get(k, 0.0) for k, t in _worker_cpu(server_pids[0]).items()]
    shares = "/".join(f"{100 * u / max(sum(used), 1e-9):.0f}" for u in sorted(used, reverse=True))
    if not latencies:
        print(f"{name}: no successful calls ({statuses})")
        return
    print(
        f"{name}: {len(latencies)} calls ({clients} clients, {wall:.1f} s, statuses {statuses}, "
        f"{incomplete} with the chart incomplete): "
        f"median {statistics.median(latencies):.0f} ms, p95 {_percentile(latencies, 0.95):.0f} ms, "
        f"max {max(latencies):.0f} ms, {len(latencies) / wall:.1f} calls/s; server CPU per call "
        + ", ".join(f"{1000 * c / (len(latencies) + clients):.0f} ms" for c in cpu)
        + " (service"
        + (f", its workers' shares {shares} %" if len(used) > 1 else "")
        + (", FHIR server)" if len(cpu) > 1 else ")")
        + f"; load average {os.getloadavg()[0]:.1f} at the end",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=60, help="calls per scenario (bounded)")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="time limit per scenario")
    parser.add_argument("--resources", type=int, default=1000, help="target chart size (prefetched resources)")
    parser.add_argument("--page-size", type=int, default=50, help="FHIR server page size for the fallback")
    parser.add_argument("--library", type=Path, default=LIBRARY)
    parser.add_argument("--workers", type=int, default=1, help="eligibility serve --workers")
    parser.add_argument("--show-log", action="store_true", help="print the end of the service's log")
    args = parser.parse_args()

    path, pid, prefetch, n = _choose_patient(args.resources)
    print(f"patient: {path.name.split('_')[0]}... with {n} prefetched resources; library: {args.library.name}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.workers} worker(s)", flush=True)
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "bench-1", "alg": "ES384"}
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            fhir_base = None
            node = shutil.which("node")
            if node and (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
                fhir = subprocess.Popen(
                    [node, "server.mjs", "--token", FHIR_TOKEN, "--page-size", str(args.page_size), str(path)],
                    cwd=SERVER_DIR,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                procs.append(fhir)
                assert fhir.stdout is not None
                fhir_base = f"http://127.0.0.1:{json.loads(fhir.stdout.readline())['port']}/fhir"
            else:
                print("FHIR fallback: skipped (node or tests/fhir_server/node_modules missing)")
            Path(tmp, "jwks.json").write_text(json.dumps({"keys": [jwk]}))
            servers = f"fhir_servers = ['{fhir_base}']\n" if fhir_base else ""
            Path(tmp, "service.toml").write_text(
                f"[service]\ndev = true\nfhir_deadline_seconds = 30\nstate_dir = 'state'\n"
                f"[[issuers]]\niss = '{ISS}'\njwks = 'jwks.json'\n{servers}"
            )
            port = _free_port()
            exe = Path(sys.executable).parent / "eligibility"
            env = {**os.environ, "PYTHONWARNINGS": "ignore"}
            log = Path(tmp, "serve.log").open("w")  # noqa: SIM115 (open for the whole run; a pipe nobody reads would stall the server)
            serve = subprocess.Popen(
                [
                    str(exe),
                    "serve",
                    "--library",
                    str(args.library),
                    "--port",
                    str(port),
                    "--config",
                    f"{tmp}/service.toml",
                    "--workers",
                    str(args.workers),
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
                env=env,
            )
            procs.append(serve)
            base = f"http://127.0.0.1:{port}"
            t0 = time.perf_counter()
            _wait(base + "/cds-services", serve, 300)
            print(f"service up in {time.perf_counter() - t0:.1f} s (library load included)")
            hook_url = base + "/cds-services/trial-eligibility"
            context = {"userId": "Practitioner/bench", "patientId": pid}
            with_prefetch = {"hook": "patient-view", "hookInstance": "b", "context": context, "prefetch": prefetch}
            scenarios: list[tuple[str, dict[str, Any]]] = [("with prefetch", with_prefetch)]
            if fhir_base:
                fallback = {
                    "hook": "patient-view",
                    "hookInstance": "b",
                    "context": context,
                    "fhirServer": fhir_base,
                    "fhirAuthorization": {"access_token": FHIR_TOKEN, "token_type": "Bearer"},
                }
                scenarios.append((f"FHIR fallback (page size {args.page_size})", fallback))
            for name, body in scenarios:
                pids = (serve.pid,) if "prefetch" in name else (serve.pid, procs[0].pid)
                _run(name, hook_url, body, key, args.clients, args.requests, args.max_seconds, pids)
            if args.show_log:
                print(Path(tmp, "serve.log").read_text()[-4000:])
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()
