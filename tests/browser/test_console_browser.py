"""The admin console in a real browser: the system's headless Chromium (Debian's ``chromium``
package, installed by .ci/run) driven by Playwright through its executable path, against the
local product (``rostersync serve``'s :class:`~rostersync_tools.local.serve.LocalProduct`).

One scenario, as the people who use the console would go through it: ``make demo``'s district
(day 1 applied, day 2 held at two schools) and a second district onboarded beside it. The admin
signs in, reads both holds with their numbers, downloads the changes CSV, releases one school,
rejects the other and sees the board update; the other district's admin is refused (404); the
operator sees both districts. The screenshots it takes are the README's (docs/console-*.png):
they are written there only with ``ROSTERSYNC_SCREENSHOTS=docs`` (another value: that folder, e.g.
a CI artifact directory); otherwise they stay in the test's temporary folder, so that an ordinary
run leaves the work tree clean.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rostersync.settings import DistrictSettings
from rostersync_tools.local.demo import AdminClient, Scenario, build_scenario, sftp_upload, wait_until
from rostersync_tools.local.routing import serialized
from rostersync_tools.local.serve import LocalProduct, ServeOptions
from rostersync_tools.synthetic import write_clever_csv

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"
OTHER_DISTRICT = "riverside"
OTHER_ADMIN = "admin@riverside.example.org"
TIMEOUT_MS = 30_000


def _screenshots_to() -> Path | None:
    """Where the screenshots are copied (ROSTERSYNC_SCREENSHOTS: ``docs`` or a folder), or None."""
    wanted = os.environ.get("ROSTERSYNC_SCREENSHOTS", "").strip()
    if not wanted:
        return None
    return DOCS if wanted == "docs" else Path(wanted)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package before the tests")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalProduct, Scenario, str]]:
    """The local product with day 1 applied and day 2 held at two schools, and a second
    district onboarded; the held sync's id."""
    workdir = tmp_path_factory.mktemp("console")
    product = LocalProduct(ServeOptions(workdir=workdir, quiet_seconds=1))
    endpoints = product.start()
    try:
        assert product.stack is not None
        with serialized():
            product.stack.api_deps().repo.put_settings(
                DistrictSettings(
                    district_id=OTHER_DISTRICT, name="Riverside Schools", admin_emails=[OTHER_ADMIN]
                )
            )
        scenario = build_scenario(400, 11, endpoints.district_id)
        api = AdminClient(endpoints)
        district = endpoints.district_id
        write_clever_csv(scenario.day1, workdir / "day1")
        sftp_upload(endpoints, workdir / "day1")
        wait_until(
            lambda: any(s["status"] == "applied" for s in api.get(f"/districts/{district}/syncs")["syncs"]),
            "day 1 to be applied",
            timeout=90,
        )
        write_clever_csv(scenario.day2, workdir / "day2")
        sftp_upload(endpoints, workdir / "day2")
        hold: dict[str, Any] = wait_until(
            lambda: next(iter(api.get(f"/districts/{district}/holds")["holds"]), None),
            "day 2 to be held",
            timeout=90,
        )
        yield product, scenario, hold["sync_id"]
    finally:
        product.stop()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


def named(school_id: str) -> re.Pattern[str]:
    """A school as the console names it: ``Adams Elementary (SCH0001)``."""
    return re.compile(rf"^\S.* \({re.escape(school_id)}\)$")


def sign_in(context: Any, console_url: str, who: str) -> Any:
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(console_url)
    page.get_by_role("button", name=re.compile(re.escape(who))).click()
    page.wait_for_url(re.compile(re.escape(console_url)))
    return page


def test_admin_decides_the_held_sync_in_the_browser_and_others_are_scoped(
    held: tuple[LocalProduct, Scenario, str], browser: Any, tmp_path: Path
) -> None:
    product, scenario, sync_id = held
    assert product.endpoints is not None
    console_url = product.endpoints.console_url
    district = product.endpoints.district_id
    mistaken, contacts = scenario.mistaken_school, scenario.contacts_school
    shots = tmp_path / "shots"
    shots.mkdir()
    started = time.monotonic()

    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page = sign_in(context, console_url, product.endpoints.admin_email)
    # A district admin of one district lands on its school board; both held schools say so.
    assert page.url == f"{console_url}/districts/{district}"
    assert page.get_by_role("heading", level=1).inner_text() == "Demo Unified School District (demo)"
    for school in (mistaken, contacts):
        row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=named(school)))
        assert "On hold" in row.inner_text()

    response = page.goto(f"{console_url}/districts/{district}/syncs/{sync_id}")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp
    text = page.locator("main").inner_text()
    removal = re.search(
        rf"\({mistaken}\) would remove (\d+) of (\d+) students \((\d+(?:\.\d+)?) %, limit 10 %\)", text
    )
    assert removal, text
    assert int(removal.group(1)) > 0.1 * int(removal.group(2))
    assert re.search(rf"\({contacts}\): Emergency or secondary contacts", text), text
    assert re.search(rf"\({contacts}\): {scenario.new_contacts} of \d+ new contact links", text), text
    page.screenshot(path=str(shots / "console-held-sync.png"))

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download all changes (CSV)").click()
    saved = tmp_path / "changes.csv"
    download_info.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert {r["School ID"] for r in rows} >= {mistaken, contacts}

    page.get_by_label(named(contacts)).check()
    page.get_by_label(re.compile("^Emergency or secondary contacts")).check()
    page.get_by_role("button", name="Release selected schools").click()
    assert f"Released {contacts}." in page.get_by_role("status").inner_text()

    def contacts_applied() -> bool:
        page.reload()
        return f"({contacts}): applied" in page.locator("main").inner_text()

    wait_until(contacts_applied, f"school {contacts} to be applied", timeout=60)

    # The held school's next decision round opens a moment after the release is applied; until
    # then the page says "Applying…" (and reloads itself) with no decision buttons.
    def decision_open() -> bool:
        page.reload()
        return page.get_by_role("button", name="Reject the whole sync").count() == 1

    wait_until(decision_open, "the next decision round to open", timeout=60)
    page.get_by_role("button", name="Reject the whole sync").click()
    assert "Rejected" in page.get_by_role("status").inner_text()

    def board_settled() -> bool:
        page.goto(f"{console_url}/districts/{district}")
        return "Nothing is waiting for a decision." in page.locator("main").inner_text()

    wait_until(board_settled, "the board to show no open hold", timeout=60)
    contacts_row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=named(contacts)))
    assert "Connected" in contacts_row.inner_text()
    assert "On hold" not in page.locator("main").inner_text()
    page.screenshot(path=str(shots / "console-school-board.png"), full_page=True)

    # At 320 px nothing but the tables' own scroll areas is wider than the screen.
    page.set_viewport_size({"width": 320, "height": 640})
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    context.close()

    # Another district's admin: the demo district's pages do not exist for them.
    other = browser.new_context()
    page = sign_in(other, console_url, OTHER_ADMIN)
    assert page.url == f"{console_url}/districts/{OTHER_DISTRICT}"
    for path in (f"/districts/{district}", f"/districts/{district}/syncs/{sync_id}"):
        response = page.goto(console_url + path)
        assert response is not None and response.status == 404
        assert page.get_by_role("heading", level=1).inner_text() == "Not found"
    other.close()

    # The operator sees every district.
    operator = browser.new_context()
    page = sign_in(operator, console_url, "operator@")
    assert page.url == f"{console_url}/districts"
    names = page.get_by_role("rowheader").all_inner_texts()
    assert names == ["Demo Unified School District (demo)", "Riverside Schools (riverside)"]
    page.screenshot(path=str(shots / "console-districts.png"), full_page=True)
    operator.close()

    target = _screenshots_to()
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
        for shot in shots.glob("*.png"):
            shutil.copyfile(shot, target / shot.name)
    print(f"screenshots: {target or shots}")
    print(f"browser scenario: {time.monotonic() - started:.1f} s")
