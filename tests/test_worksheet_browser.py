"""The worksheet in a real browser: Playwright for Python driving Debian's Chromium (never a downloaded one)
against the real server on loopback. Each page's screenshot is saved under docs/screenshots/ for review."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .worksheet_server import ROOT, SYNTHEA, TOM, TOM_ID, USERS, Running, run_worksheet

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "docs" / "screenshots"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright for Python is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def worksheet(tmp_path: Path) -> Iterator[Running]:
    yield from run_worksheet(tmp_path)


@pytest.fixture
def page(browser: object, worksheet: Running) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)  # type: ignore[attr-defined]
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()


def shot(page: object, name: str, full: bool = False) -> None:
    """The window (or the whole page, for the short ones) as docs/screenshots/NAME.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)  # type: ignore[attr-defined]


def log_in(page: object, base: str, name: str = "cora") -> None:
    page.goto(base + "/")  # type: ignore[attr-defined]
    page.get_by_label("User name").fill(name)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(USERS[name][1])  # type: ignore[attr-defined]
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Trials").wait_for()  # type: ignore[attr-defined]


def verdict(page: object) -> str:
    text = page.locator(".verdict .badge").first.inner_text()  # type: ignore[attr-defined]
    return str(text).split(" ", 1)[1]


def older_tom(tmp_path: Path) -> Path:
    """Tom's record again, with a birth date that puts him over the trial's age limit (new data)."""
    bundle = json.loads((SYNTHEA / TOM).read_text(encoding="utf-8"))
    changed = copy.deepcopy(bundle)
    for entry in changed["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["birthDate"] = "1940-01-15"
    out = tmp_path / "tom-corrected.json"
    out.write_text(json.dumps(changed), encoding="utf-8")
    return out


def test_the_first_page_is_the_login_form_and_a_wrong_password_says_so(page: object, worksheet: Running) -> None:
    page.goto(worksheet.url + "/")  # type: ignore[attr-defined]
    assert page.get_by_role("heading", name="Log in").is_visible()  # type: ignore[attr-defined]
    shot(page, "login")
    page.get_by_label("User name").fill("cora")  # type: ignore[attr-defined]
    page.get_by_label("Password").fill("not her password")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]
    assert "do not match" in page.get_by_role("alert").inner_text()  # type: ignore[attr-defined]


def test_trials_search_and_the_trial_page(page: object, worksheet: Running) -> None:
    log_in(page, worksheet.url)
    shot(page, "trials")
    page.get_by_label("Search by id, title or condition").fill("pediatric")  # type: ignore[attr-defined]
    page.get_by_text("1 of 2 trials").wait_for()  # type: ignore[attr-defined]  (htmx swapped the rows)
    page.get_by_role("link", name="NCT06168851").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name=re.compile("NCT06168851")).wait_for()  # type: ignore[attr-defined]
    assert page.locator("#crit-I6 .badge").inner_text().endswith("not computable")  # type: ignore[attr-defined]
    shot(page, "trial")


def test_a_reviewer_marks_a_reading_wrong_and_the_rule_version_moves(page: object, worksheet: Running) -> None:
    log_in(page, worksheet.url, "rhea")
    page.get_by_role("link", name="NCT06352281").click()  # type: ignore[attr-defined]
    before = page.locator("p.muted code").first.inner_text()  # type: ignore[attr-defined]
    row = page.locator("#crit-I2")  # type: ignore[attr-defined]
    row.get_by_label("Reviewer note").fill("the protocol means any inflammatory arthritis")
    row.get_by_role("button", name="Mark wrong").click()
    page.get_by_text("marked wrong by rhea").first.wait_for()  # type: ignore[attr-defined]
    after = page.locator("p.muted code").first.inner_text()  # type: ignore[attr-defined]
    assert after == before + "-r1"
    assert (worksheet.data / "reviewed-rules" / "NCT06352281.yaml").is_file()
    shot(page, "trial-reviewed")


def test_coordinator_screens_answers_signs_exports_and_rescreens(
    page: object, worksheet: Running, tmp_path: Path
) -> None:
    log_in(page, worksheet.url)
    page.get_by_role("link", name="NCT06352281").click()  # type: ignore[attr-defined]
    page.get_by_role("link", name="Screen a candidate for this trial").click()  # type: ignore[attr-defined]
    page.get_by_label("Upload a FHIR R4 Bundle or native patient JSON").set_input_files(str(SYNTHEA / TOM))  # type: ignore[attr-defined]
    shot(page, "screen-form")
    page.get_by_role("button", name="Screen", exact=True).click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name=re.compile("Candidate 1 for")).wait_for()  # type: ignore[attr-defined]
    assert verdict(page) == "needs review"
    assert "✓ pass" in page.locator("#c-age .badge").inner_text()  # type: ignore[attr-defined]
    shot(page, "screen")

    page.get_by_role("link", name="Questions", exact=True).click()  # type: ignore[attr-defined]
    question = page.locator("#q-E5")  # type: ignore[attr-defined]
    question.get_by_text("Yes", exact=True).click()
    preview = page.locator("#preview-E5")  # type: ignore[attr-defined]
    preview.get_by_text("If saved").wait_for()
    assert "ineligible" in preview.inner_text()  # what-if, before saving
    assert verdict(page) == "needs review"  # nothing saved yet
    question.get_by_label("Source or note").fill("patient said so at the visit")
    shot(page, "questions")
    question.get_by_role("button", name="Save answer").click()
    page.get_by_role("heading", name="Answers given").wait_for()  # type: ignore[attr-defined]
    assert verdict(page) == "ineligible"

    page.get_by_role("link", name="Record", exact=True).click()  # type: ignore[attr-defined]
    page.get_by_label("Your password (re-entered to sign)").fill(USERS["cora"][1])  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign as coordinator").click()  # type: ignore[attr-defined]
    page.get_by_text("Signed for the current screening").wait_for()  # type: ignore[attr-defined]
    page.get_by_label("New status").select_option("screen-failed")  # type: ignore[attr-defined]
    page.get_by_label(re.compile("Reason")).fill("exclusion E5 applies")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Set status").click()  # type: ignore[attr-defined]
    page.locator("b.status", has_text="screen-failed").wait_for()  # type: ignore[attr-defined]
    shot(page, "record", full=True)

    with page.expect_download() as pdf:  # type: ignore[attr-defined]
        page.get_by_role("link", name="Checklist PDF").click()  # type: ignore[attr-defined]
    assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF")
    with page.expect_download() as log:  # type: ignore[attr-defined]
        page.get_by_role("link", name="Screening log (CSV)").last.click()  # type: ignore[attr-defined]
    text = Path(log.value.path()).read_text(encoding="utf-8")
    assert TOM_ID not in text and "Goodwin" not in text
    row = next(csv.DictReader(io.StringIO(text)))
    assert (row["verdict"], row["status"], row["failed_criteria"]) == ("ineligible", "screen-failed", "E5")

    page.get_by_label("New record for this patient").set_input_files(str(older_tom(tmp_path)))  # type: ignore[attr-defined]
    page.get_by_role("button", name="Upload and re-screen").click()  # type: ignore[attr-defined]
    changes = page.get_by_role("region", name="What changed")  # type: ignore[attr-defined]
    changes.wait_for()
    assert "new patient data" in changes.inner_text()
    assert changes.locator("tr", has_text="age").locator(".badge").last.inner_text().endswith("fail")
    assert "an earlier screening" in page.locator("#signatures + p + ol").inner_text()  # type: ignore[attr-defined]
    shot(page, "record-rescreened", full=True)
    page.goto(page.url.split("/record")[0] + "/checklist")  # type: ignore[attr-defined]
    shot(page, "checklist")


def test_keyboard_only_from_login_to_a_saved_answer(page: object, worksheet: Running) -> None:
    kb = page.keyboard  # type: ignore[attr-defined]
    page.goto(worksheet.url + "/")  # type: ignore[attr-defined]
    kb.type("cora")  # the name field has focus
    kb.press("Tab")
    kb.type(USERS["cora"][1])
    kb.press("Enter")
    page.get_by_role("heading", name="Trials").wait_for()  # type: ignore[attr-defined]

    def tab_to(selector: str, limit: int = 80) -> None:
        for _ in range(limit):
            kb.press("Tab")
            if page.evaluate(f"document.activeElement.matches({json.dumps(selector)})"):  # type: ignore[attr-defined]
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to('a[href="/screen"]')
    kb.press("Enter")
    page.get_by_role("heading", name="Screen a candidate").wait_for()  # type: ignore[attr-defined]
    tab_to("#folder_file")
    kb.press("ArrowDown")  # the first file of the patient folder
    tab_to('button[type="submit"]:not(.logout button)')
    kb.press("Enter")
    page.get_by_role("heading", name=re.compile("Candidate 1 for")).wait_for()  # type: ignore[attr-defined]
    tab_to('a[href$="/questions"]')
    kb.press("Enter")
    page.get_by_role("heading", name=re.compile("Questions for")).wait_for()  # type: ignore[attr-defined]
    first = page.locator("li.question").first  # type: ignore[attr-defined]
    criterion = first.locator('input[name="criterion"]').get_attribute("value")
    tab_to(f'input[name="answer"][value="yes"][id^="{criterion}-"]')
    kb.press("ArrowRight")  # radio group: moves to and checks "No"
    assert page.evaluate("document.activeElement.value") == "no"  # type: ignore[attr-defined]
    first.locator(".preview").get_by_text("If saved").wait_for()
    tab_to('button[type="submit"]:not(.logout button)')
    kb.press("Enter")
    page.get_by_role("heading", name="Answers given").wait_for()  # type: ignore[attr-defined]
    assert page.locator("table.grid tbody tr").first.locator("td").nth(1).inner_text().startswith("no")  # type: ignore[attr-defined]
    kb.press("Tab")  # focus is visible: the focused element draws an outline
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (820, 1180)])
def test_pages_fit_the_screen_at_desktop_and_tablet_width(
    browser: object, worksheet: Running, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        log_in(page, worksheet.url)
        page.goto(worksheet.url + f"/screen?trial=NCT06352281&patient={TOM_ID}")
        page.get_by_role("heading", name=re.compile("Candidate 1 for")).wait_for()
        case = page.url
        for path in ("", "/questions", "/record"):
            page.goto(case + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path or 'screen'} is {overflow}px wider than a {width}px window"
        if width < 1000:
            page.goto(case)
            shot(page, "screen-tablet")
    finally:
        context.close()
