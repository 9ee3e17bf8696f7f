"""The worksheet over real HTTP (uvicorn on loopback, httpx): sessions, CSRF, roles, reviews, exports."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from eligibility.trial import load_rule_file
from eligibility.web import RedactQuery

from .pg_cluster import postgres_url  # noqa: F401  (fixture)
from .worksheet_server import TOM, TOM_ID, USERS, Running, run_worksheet


@pytest.fixture
def worksheet(tmp_path: Path) -> Iterator[Running]:
    yield from run_worksheet(tmp_path)


def login(base: str, name: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=120)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post("/login", data={"name": name, "password": USERS[name][1], "csrf_token": token[1], "next": "/"})
    assert r.status_code == 303, r.text
    home = client.get("/")
    csrf = re.search(r'X-CSRF-Token": "([^"]+)"', home.text)
    assert csrf is not None
    return client, csrf[1]


def screen_tom(client: httpx.Client, csrf: str, trial: str = "NCT06352281") -> str:
    r = client.post("/screen", data={"trial": trial, "folder_file": TOM, "csrf_token": csrf})
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def test_a_visitor_gets_the_login_form_and_the_hook_routes_stay_as_they_were(worksheet: Running) -> None:
    with httpx.Client(base_url=worksheet.url, timeout=120) as c:
        first = c.get("/", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"].startswith("/login")
        assert 'name="password"' in c.get("/login").text
        hooks = c.get("/cds-services")
        assert hooks.json() == {"services": []}
        assert "content-security-policy" not in hooks.headers  # the app's own routes are left alone
        assert c.get("/worksheet-static/htmx.min.js").status_code == 200
        login_page = c.get("/login")
        assert login_page.headers["cache-control"] == "no-store" and login_page.headers["x-frame-options"] == "DENY"
        assert "script-src 'self'" in login_page.headers["content-security-policy"]


def test_wrong_password_and_missing_login_token_are_refused(worksheet: Running) -> None:
    with httpx.Client(base_url=worksheet.url, timeout=120) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert token is not None
        bad = c.post("/login", data={"name": "cora", "password": "not-her-password", "csrf_token": token[1]})
        assert bad.status_code == 401 and "do not match" in bad.text
        forged = c.post("/login", data={"name": "cora", "password": USERS["cora"][1], "csrf_token": "forged"})
        assert forged.status_code == 403


@pytest.mark.parametrize("token", [None, "", "stale-token"])
def test_every_form_post_needs_the_session_csrf_token(worksheet: Running, token: str | None) -> None:
    client, csrf = login(worksheet.url, "cora")
    case = screen_tom(client, csrf)
    data = {"csrf_token": token} if token is not None else {}
    assert client.post(f"{case}/rescreen", data=data).status_code == 403
    assert client.post(f"{case}/rescreen", data={"csrf_token": csrf}).status_code == 303
    assert client.post(f"{case}/rescreen", headers={"X-CSRF-Token": csrf}).status_code == 303


def test_roles_decide_who_may_review_and_who_may_sign(worksheet: Running) -> None:
    cora, cora_csrf = login(worksheet.url, "cora")
    form = {"criterion": "I2", "action": "confirm", "csrf_token": cora_csrf}
    assert cora.post("/trials/NCT06352281/review", data=form).status_code == 403
    rhea, _ = login(worksheet.url, "rhea")
    assert rhea.get("/screen").status_code == 403


def test_a_reviewer_marking_a_reading_wrong_writes_a_reviewed_rule_file_with_a_new_version(worksheet: Running) -> None:
    rhea, csrf = login(worksheet.url, "rhea")
    before = re.search(r"Rule version <code>([^<]+)</code>", rhea.get("/trials/NCT06352281").text)
    assert before is not None
    wrong = {"criterion": "age", "action": "wrong", "note": "the protocol says 12 to 75", "csrf_token": csrf}
    r = rhea.post("/trials/NCT06352281/review", data=wrong)
    assert r.status_code == 303
    path = worksheet.data / "reviewed-rules" / "NCT06352281.yaml"
    trial = load_rule_file(path)
    assert trial.version == before[1] + "-r1"
    age = next(c for c in trial.criteria if c.id == "age")
    assert age.rule.kind == "unparsed" and "12 to 75" in (age.note or "")
    page = rhea.get("/trials/NCT06352281").text
    assert before[1] + "-r1" in page and "marked wrong by rhea" in page
    rhea.post("/trials/NCT06352281/review", data={"criterion": "I2", "action": "confirm", "csrf_token": csrf})
    assert load_rule_file(path).version == before[1] + "-r2"
    # a wrong reading needs its reason
    no_reason = {"criterion": "I2", "action": "wrong", "note": " ", "csrf_token": csrf}
    assert rhea.post("/trials/NCT06352281/review", data=no_reason).status_code == 400


@pytest.mark.parametrize("path", ["/trials/..%2F..%2Fetc%2Fpasswd", "/trials/NCT00000000", "/screen?trial=../x"])
def test_ids_outside_the_library_are_not_found(worksheet: Running, path: str) -> None:
    client, _ = login(worksheet.url, "cora")
    assert client.get(path).status_code == 404


def test_a_card_link_opens_the_candidate_after_login(worksheet: Running) -> None:
    link = f"/screen?trial=NCT06352281&patient={TOM_ID}"
    with httpx.Client(base_url=worksheet.url, follow_redirects=False, timeout=120) as c:
        first = c.get(link)
        assert first.status_code == 303
        target = first.headers["location"]
        assert target.startswith("/login?next=")
        form = c.get(target).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        nxt = re.search(r'name="next" value="([^"]+)"', form)
        assert token is not None and nxt is not None and nxt[1] == link.replace("&", "&amp;")
        r = c.post("/login", data={"name": "cora", "password": USERS["cora"][1], "csrf_token": token[1],
                                   "next": link})
        assert r.headers["location"] == link
        opened = c.get(link)
        assert opened.status_code == 303 and opened.headers["location"].startswith("/cases/")
        assert "needs review" in c.get(opened.headers["location"]).text


def test_exports_carry_the_audit_trail_and_the_log_is_de_identified(worksheet: Running) -> None:
    client, csrf = login(worksheet.url, "cora")
    case = screen_tom(client, csrf)
    client.post(f"{case}/answers", data={"criterion": "E5", "answer": "yes", "note": "told us", "csrf_token": csrf})
    client.post(f"{case}/answers", data={"criterion": "E5", "answer": "no", "note": "misheard", "csrf_token": csrf})
    record = client.get(f"{case}/record").text
    screening = re.search(r'name="screening" value="(\d+)"', record)
    assert screening is not None
    client.post(f"{case}/sign", data={"screening": screening[1], "password": USERS["cora"][1], "csrf_token": csrf})
    client.post(f"{case}/status", data={"status": "screen-failed", "reason": "declined travel", "csrf_token": csrf})
    exported = client.get(f"{case}/export.json").json()
    assert [a["answer"] for a in exported["answers"]] == ["yes", "no"]
    assert exported["answers"][1]["supersedes"] == exported["answers"][0]["id"]
    assert all(a["by"] == "cora" and a["at"].endswith("+00:00") for a in exported["answers"])
    assert exported["signatures"][0]["role"] == "coordinator" and exported["signatures"][0]["by"] == "cora"
    assert exported["screening"]["rule_version"] and exported["screening"]["engine_version"]
    assert exported["result"]["patient"] == TOM_ID
    log = client.get("/log.csv").text
    assert TOM_ID not in log and "Goodwin" not in log
    rows = list(csv.DictReader(io.StringIO(log)))
    assert rows[0]["status"] == "screen-failed" and rows[0]["screen_failure_reason"] == "declined travel"
    assert rows[0]["candidate"] == "1"
    pdf = client.get(f"{case}/checklist.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert json.loads(client.get(f"{case}/export.json").text)["verdict"] == exported["verdict"]


def test_a_wrong_password_signs_nothing(worksheet: Running) -> None:
    client, csrf = login(worksheet.url, "cora")
    case = screen_tom(client, csrf)
    screening = re.search(r'name="screening" value="(\d+)"', client.get(f"{case}/record").text)
    assert screening is not None
    r = client.post(f"{case}/sign", data={"screening": screening[1], "password": "guess", "csrf_token": csrf})
    assert "error=password" in r.headers["location"]
    assert client.get(f"{case}/export.json").json()["signatures"] == []


def test_access_log_lines_lose_their_query_string() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", f"/screen?trial=NCT1&patient={TOM_ID}", "1.1", 303), None)
    RedactQuery().filter(record)
    assert TOM_ID not in record.getMessage() and "/screen?[redacted]" in record.getMessage()


def test_the_package_ships_its_pages_htmx_and_migrations_and_loads_nothing_from_a_cdn() -> None:
    import eligibility.store
    import eligibility.web

    web = Path(eligibility.web.__file__).parent
    assert (web / "static" / "htmx.min.js").stat().st_size > 10_000
    assert "Zero-Clause BSD" in (web / "static" / "htmx.LICENSE").read_text(encoding="utf-8")
    assert (Path(eligibility.store.__file__).parent / "migrations" / "versions" / "0001_initial.py").is_file()
    for template in (web / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//', text), f"{template.name} loads from another site"


def test_an_answer_against_the_records_is_shown_beside_them(worksheet: Running) -> None:
    client, csrf = login(worksheet.url, "cora")
    case = screen_tom(client, csrf)
    r = client.post(f"{case}/answers",
                    data={"criterion": "age", "answer": "no", "note": "ID card says 1950", "csrf_token": csrf})
    assert r.status_code == 303
    page = client.get(f"{case}/questions").text
    row = re.search(r"<td>age</td>.*?</tr>", page, re.S)
    assert row is not None and "the records say otherwise" in row[0] and "8-75 years" in row[0]
    assert client.get(f"{case}/export.json").json()["verdict"] == "ineligible"


def test_the_worksheet_runs_on_postgresql(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    import uuid

    from sqlalchemy import create_engine

    base_url = request.getfixturevalue("postgres_url")  # skips where PostgreSQL is not installed
    name = "ws_" + uuid.uuid4().hex[:12]
    with create_engine(base_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = base_url.rsplit("/", 1)[0] + "/" + name
    for running in run_worksheet(tmp_path, database_url=url):
        client, csrf = login(running.url, "cora")
        case = screen_tom(client, csrf)
        client.post(f"{case}/answers", data={"criterion": "E5", "answer": "yes", "csrf_token": csrf})
        exported = client.get(f"{case}/export.json").json()
        assert exported["verdict"] == "ineligible" and exported["answers"][0]["at"].endswith("+00:00")
        assert not (running.data / "worksheet.sqlite3").exists()  # the data went to PostgreSQL


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_no_patient_identifier_reaches_the_logs(tmp_path: Path) -> None:
    collect = _Collect()
    names = ["", "uvicorn", "uvicorn.access", "uvicorn.error", "sqlalchemy", "alembic", "httpx"]
    for running in run_worksheet(tmp_path, log_level="debug"):
        for n in names:
            logging.getLogger(n).addHandler(collect)
        try:
            with httpx.Client(base_url=running.url, follow_redirects=False, timeout=120) as anonymous:
                anonymous.get(f"/screen?trial=NCT06352281&patient={TOM_ID}")
            client, csrf = login(running.url, "cora")
            client.get(f"/screen?trial=NCT06352281&patient={TOM_ID}")
            case = screen_tom(client, csrf)
            client.get(case)
            client.get(f"{case}/questions")
            client.post(f"{case}/answers", data={"criterion": "E5", "answer": "no", "csrf_token": csrf})
            client.get("/log.csv")
        finally:
            for n in names:
                logging.getLogger(n).removeHandler(collect)
    assert any("/screen" in line for line in collect.lines)  # the access log did record the requests
    leaked = [line for line in collect.lines if TOM_ID in line or "Goodwin" in line]
    assert leaked == []


def test_a_new_rule_version_shows_on_the_record_and_in_the_rescreen_diff(worksheet: Running) -> None:
    cora, csrf = login(worksheet.url, "cora")
    case = screen_tom(cora, csrf)
    assert "rules changed" not in cora.get(f"{case}/record").text
    rhea, rhea_csrf = login(worksheet.url, "rhea")
    wrong = {"criterion": "age", "action": "wrong", "note": "bounds differ in protocol v3", "csrf_token": rhea_csrf}
    assert rhea.post("/trials/NCT06352281/review", data=wrong).status_code == 303
    assert "rules changed since" in cora.get(f"{case}/record").text
    assert cora.post(f"{case}/rescreen", data={"csrf_token": csrf}).status_code == 303
    page = cora.get(f"{case}/record").text
    region = page[page.index('aria-label="What changed"'):]
    assert "a new rule version of the trial" in region
    row = re.search(r"<td>age</td>(.*?)</tr>", region, re.S)
    assert row is not None and "pass" in row[1] and "unknown" in row[1]
    exported = cora.get(f"{case}/export.json").json()
    assert exported["screening"]["rule_version"].endswith("-r1")


def test_enrolment_needs_an_eligible_screening_signed_by_coordinator_and_investigator(worksheet: Running) -> None:
    cora, csrf = login(worksheet.url, "cora")
    case = screen_tom(cora, csrf)
    enrol = {"status": "enrolled", "csrf_token": csrf}
    assert cora.post(f"{case}/status", data=enrol).status_code == 409  # needs review
    result = cora.get(f"{case}/export.json").json()["result"]
    for c in result["criteria"]:
        if c["status"] == "unknown":  # answer every open question the way that keeps the candidate in
            value = "yes" if c["kind"] == "inclusion" else "no"
            cora.post(f"{case}/answers", data={"criterion": c["id"], "answer": value, "csrf_token": csrf})
    record = cora.get(f"{case}/record").text
    assert "✓ eligible" in record and "Awaiting the signature of: coordinator, investigator" in record
    screening = re.search(r'name="screening" value="(\d+)"', record)
    assert screening is not None
    cora.post(f"{case}/sign", data={"screening": screening[1], "password": USERS["cora"][1], "csrf_token": csrf})
    refused = cora.post(f"{case}/status", data=enrol)
    assert refused.status_code == 409 and "investigator" in refused.text
    ivan, ivan_csrf = login(worksheet.url, "ivan")
    ivan.post(f"{case}/sign", data={"screening": screening[1], "password": USERS["ivan"][1], "csrf_token": ivan_csrf})
    assert cora.post(f"{case}/status", data=enrol).status_code == 303
    signatures = cora.get(f"{case}/export.json").json()["signatures"]
    assert [(s["role"], s["by"]) for s in signatures] == [("coordinator", "cora"), ("investigator", "ivan")]


def test_a_withdrawn_signature_is_superseded_not_erased(worksheet: Running) -> None:
    cora, csrf = login(worksheet.url, "cora")
    case = screen_tom(cora, csrf)
    screening = re.search(r'name="screening" value="(\d+)"', cora.get(f"{case}/record").text)
    assert screening is not None
    cora.post(f"{case}/sign", data={"screening": screening[1], "password": USERS["cora"][1], "csrf_token": csrf})
    [signed] = cora.get(f"{case}/export.json").json()["signatures"]
    ivan, ivan_csrf = login(worksheet.url, "ivan")
    other = {"password": USERS["ivan"][1], "reason": "not mine", "csrf_token": ivan_csrf}
    assert ivan.post(f"{case}/signatures/{signed['id']}/withdraw", data=other).status_code == 403
    mine = {"password": USERS["cora"][1], "reason": "signed the wrong candidate", "csrf_token": csrf}
    assert cora.post(f"{case}/signatures/{signed['id']}/withdraw", data=mine).status_code == 303
    sigs = cora.get(f"{case}/export.json").json()["signatures"]
    assert [(s["id"], s["withdraws"]) for s in sigs] == [(signed["id"], None), (sigs[1]["id"], signed["id"])]
    assert "signed the wrong candidate" in sigs[1]["meaning"]
    assert "Awaiting the signature of: coordinator" in cora.get(f"{case}/record").text
    assert cora.post(f"{case}/signatures/{signed['id']}/withdraw", data=mine).status_code == 404  # only once
