"""The worksheet in a real browser: Playwright for Python driving Debian's Chromium (never a downloaded one)
against the real server on loopback. Each page is screenshotted (into docs/screenshots/ when
ELIGIBILITY_SCREENSHOTS=1)."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .worksheet_server import ROOT, SYNTHEA, TOM, TOM_ID, USERS, Running, run_worksheet

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
# Screenshots for review: into docs/screenshots/ only when asked (ELIGIBILITY_SCREENSHOTS=1), so a test run
# never leaves the checkout changed; otherwise into the temp folder, still taken (a page that cannot be
# captured fails the test either way).
SHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("ELIGIBILITY_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "eligibility-screenshots"
)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright for Python is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
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
def page(browser: Browser, worksheet: Running) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()


def shot(page: Page, name: str, full: bool = False) -> None:
    """The window (or the whole page, for the short ones) as NAME.png in SHOTS."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def log_in(page: Page, base: str, name: str = "cora") -> None:
    page.goto(base + "/")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(USERS[name][1])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Trials").wait_for()


def verdict(page: Page) -> str:
    text = page.locator(".verdict .badge").first.inner_text()
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


def test_the_first_page_is_the_login_form_and_a_wrong_password_says_so(page: Page, worksheet: Running) -> None:
    page.goto(worksheet.url + "/")
    assert page.get_by_role("heading", name="Log in").is_visible()
    shot(page, "login")
    page.get_by_label("User name").fill("cora")
    page.get_by_label("Password").fill("not her password")
    page.get_by_role("button", name="Log in").click()
    assert "do not match" in page.get_by_role("alert").inner_text()


def test_trials_search_and_the_trial_page(page: Page, worksheet: Running) -> None:
    log_in(page, worksheet.url)
    shot(page, "trials")
    page.get_by_label("Search by id, title or condition").fill("pediatric")
    page.get_by_text("1 of 2 trials").wait_for()  # htmx swapped the rows
    page.get_by_role("link", name="NCT06168851").click()
    page.get_by_role("heading", name=re.compile("NCT06168851")).wait_for()
    assert page.locator("#crit-I6 .badge").inner_text().endswith("not computable")
    shot(page, "trial")


def test_a_reviewer_marks_a_reading_wrong_and_the_rule_version_moves(page: Page, worksheet: Running) -> None:
    log_in(page, worksheet.url, "rhea")
    page.get_by_role("link", name="NCT06352281").click()
    before = page.locator("p.muted code").first.inner_text()
    row = page.locator("#crit-I2")
    row.get_by_label("Reviewer note").fill("the protocol means any inflammatory arthritis")
    row.get_by_role("button", name="Mark wrong").click()
    page.get_by_text("marked wrong by rhea").first.wait_for()
    after = page.locator("p.muted code").first.inner_text()
    assert after == before + "-r1"
    assert (worksheet.data / "reviewed-rules" / "NCT06352281.yaml").is_file()
    shot(page, "trial-reviewed")


def test_coordinator_screens_answers_signs_exports_and_rescreens(
    page: Page, worksheet: Running, tmp_path: Path
) -> None:
    log_in(page, worksheet.url)
    page.get_by_role("link", name="NCT06352281").click()
    page.get_by_role("link", name="Screen a candidate for this trial").click()
    page.get_by_label("Upload a FHIR R4 Bundle or native patient JSON").set_input_files(str(SYNTHEA / TOM))
    shot(page, "screen-form")
    page.get_by_role("button", name="Screen", exact=True).click()
    page.get_by_role("heading", name=re.compile("Candidate 1 for")).wait_for()
    assert verdict(page) == "needs review"
    assert "✓ pass" in page.locator("#c-age .badge").inner_text()
    shot(page, "screen")

    page.get_by_role("link", name="Questions", exact=True).click()
    question = page.locator("#q-E5")
    question.get_by_text("Yes", exact=True).click()
    preview = page.locator("#preview-E5")
    preview.get_by_text("If saved").wait_for()
    assert "ineligible" in preview.inner_text()  # what-if, before saving
    assert verdict(page) == "needs review"  # nothing saved yet
    question.get_by_label("Source or note").fill("patient said so at the visit")
    shot(page, "questions")
    question.get_by_role("button", name="Save answer").click()
    page.get_by_role("heading", name="Answers given").wait_for()
    assert verdict(page) == "ineligible"

    page.get_by_role("link", name="Record", exact=True).click()
    page.get_by_label("Your password (re-entered to sign)").fill(USERS["cora"][1])
    page.get_by_role("button", name="Sign as coordinator").click()
    page.get_by_text("Signed for the current screening").wait_for()
    page.get_by_label("New status").select_option("screen-failed")
    page.get_by_label(re.compile("Reason")).fill("exclusion E5 applies")
    page.get_by_role("button", name="Set status").click()
    page.locator("b.status", has_text="screen-failed").wait_for()
    shot(page, "record", full=True)

    with page.expect_download() as pdf:
        page.get_by_role("link", name="Checklist PDF").click()
    assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF")
    with page.expect_download() as log:
        page.get_by_role("link", name="Screening log (CSV)").last.click()
    text = Path(log.value.path()).read_text(encoding="utf-8")
    assert TOM_ID not in text and "Goodwin" not in text
    row = next(csv.DictReader(io.StringIO(text)))
    assert (row["verdict"], row["status"], row["failed_criteria"]) == ("ineligible", "screen-failed", "E5")

    page.get_by_label("New record for this patient").set_input_files(str(older_tom(tmp_path)))
    page.get_by_role("button", name="Upload and re-screen").click()
    changes = page.get_by_role("region", name="What changed")
    changes.wait_for()
    assert "new patient data" in changes.inner_text()
    assert changes.locator("tr", has_text="age").locator(".badge").last.inner_text().endswith("fail")
    assert "an earlier screening" in page.locator("#signatures + p + ol").inner_text()
    shot(page, "record-rescreened", full=True)
    page.goto(page.url.split("/record")[0] + "/checklist")
    shot(page, "checklist")


def test_keyboard_only_from_login_to_a_saved_answer(page: Page, worksheet: Running) -> None:
    kb = page.keyboard
    page.goto(worksheet.url + "/")
    kb.type("cora")  # the name field has focus
    kb.press("Tab")
    kb.type(USERS["cora"][1])
    kb.press("Enter")
    page.get_by_role("heading", name="Trials").wait_for()

    def tab_to(selector: str, limit: int = 80) -> None:
        for _ in range(limit):
            kb.press("Tab")
            if page.evaluate(f"document.activeElement.matches({json.dumps(selector)})"):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to('a[href="/screen"]')
    kb.press("Enter")
    page.get_by_role("heading", name="Screen a candidate").wait_for()
    tab_to("#folder_file")
    kb.press("ArrowDown")  # the first file of the patient folder
    tab_to('button[type="submit"]:not(.logout button)')
    kb.press("Enter")
    page.get_by_role("heading", name=re.compile("Candidate 1 for")).wait_for()
    tab_to('a[href$="/questions"]')
    kb.press("Enter")
    page.get_by_role("heading", name=re.compile("Questions for")).wait_for()
    first = page.locator("li.question").first
    criterion = first.locator('input[name="criterion"]').get_attribute("value")
    tab_to(f'input[name="answer"][value="yes"][id^="{criterion}-"]')
    kb.press("ArrowRight")  # radio group: moves to and checks "No"
    assert page.evaluate("document.activeElement.value") == "no"
    first.locator(".preview").get_by_text("If saved").wait_for()
    tab_to('button[type="submit"]:not(.logout button)')
    kb.press("Enter")
    page.get_by_role("heading", name="Answers given").wait_for()
    assert page.locator("table.grid tbody tr").first.locator("td").nth(1).inner_text().startswith("no")
    kb.press("Tab")  # focus is visible: the focused element draws an outline
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (820, 1180)])
def test_pages_fit_the_screen_at_desktop_and_tablet_width(
    browser: Browser, worksheet: Running, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
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
