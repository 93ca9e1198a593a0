"""What a person sees, in a real browser (Playwright driving Debian's Chromium): the Dagster UI's
page of the ``online_record`` asset after two recorded days of two versions, and the promotion
report's verdict and predicted online lift.

Chromium comes from Debian (``apt-get install -y chromium``; ``make test`` installs it when run as
root, as CI is). Without it the tests skip with that message, except under CI=true, where a
missing browser is a failure: a browser tier that silently skips in CI tests nothing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from core.processes import free_port, stop_group, wait_for
from core.settings import RelaySettings
from evaluation.comparison import ModelView
from orchestration.runner import write_dagster_yaml
from promotion.policy import DEFAULT_POLICY, PromotionPolicy, decide
from promotion.report import ONLINE_LIFT_ID, write_report
from relay.services import service_commands, service_env
from tests.orchestration.test_online_record import materialize, serve
from tests.promotion.test_offpolicy_gate import comparison, lift

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 20_000


@pytest.fixture
def chromium() -> Path:
    """The browser binary, checked before any slow setup."""
    if not CHROMIUM.exists():
        message = f"Debian's Chromium is missing at {CHROMIUM}: `apt-get install -y chromium` (make test does, as root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def browser(chromium: Path) -> Iterator[Browser]:
    """Per test, and set up after the test's data fixtures: Playwright's sync API runs an event
    loop in this thread, which in-process Dagster runs should not share."""
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium))
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


@pytest.fixture
def dagster_ui(chromium: Path, settings: RelaySettings, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A webserver over a data directory where ``online_record`` recorded two days of v1 and v2.

    The days are the last ones before today, so they are among the partitions the UI plots by
    default (its latest 120). On the second day v1's clicks per user rise while its time falls."""
    days = [(date.today() - timedelta(days=n)).isoformat() for n in (3, 2, 1)]
    serve(settings, days[0], 1, {1: [30.0], 2: [30.0]})
    serve(settings, days[0], 2, {3: [40.0], 4: [20.0, 25.0]})
    serve(settings, days[1], 1, {1: [10.0, 10.0], 2: [10.0, 10.0]})
    serve(settings, days[1], 2, {3: [40.0, 50.0]})
    serve(settings, days[2], 2, {3: [10.0]})
    write_dagster_yaml(settings)
    with dg.DagsterInstance.get() as instance:  # DAGSTER_HOME: the settings fixture's
        for day in days[:2]:
            assert materialize(settings, day, instance).success
    port = free_port()
    command = service_commands(settings, dagster_port=port)["dagster-webserver"]
    log = tmp_path / "webserver.log"
    with open(log, "a") as output:
        server = subprocess.Popen(
            command, env=service_env(settings), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/server_info", timeout_s=90, process=server)
        yield f"http://127.0.0.1:{port}", days
    finally:
        stop_group(server.pid, grace_s=15)


def test_the_dagster_ui_shows_each_versions_online_record(dagster_ui, page, tmp_path):
    base, days = dagster_ui
    # Dagster greets a new instance with a newsletter dialog; a person would skip it.
    page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
    page.goto(f"{base}/assets/online_record")
    expect(page.get_by_text("online_record", exact=True).first).to_be_visible()
    expect(page.get_by_text(days[1], exact=True).first).to_be_visible()  # the latest materialization
    for entry in ("v1/clicks_per_user", "v1/timespent_per_user", "v2/ctr", "v2/next_day_return_rate"):
        expect(page.get_by_text(entry, exact=True)).to_be_visible()
    expect(page.get_by_text("v1, v2", exact=True)).to_be_visible()
    expect(page.get_by_text("timespent_per_user", exact=True)).to_be_visible()  # a column of the record table
    page.screenshot(path=tmp_path / "online_record_metadata.png", full_page=True)

    page.get_by_text("Plots", exact=True).click()  # each numeric entry drawn across the partitions
    for entry in ("v1/clicks_per_user", "v1/timespent_per_user", "v2/timespent_per_user"):
        expect(page.get_by_text(entry, exact=True)).to_be_visible()
    expect(page.locator("canvas").first).to_be_visible()
    assert page.locator("canvas").count() >= 12  # 6 metrics x 2 versions (+ unattributed rows)
    page.screenshot(path=tmp_path / "online_record_plots.png", full_page=True)

    page.get_by_text("Table", exact=True).click()
    page.get_by_text("[Show Markdown]").click()  # the chart of every version over the recorded days
    chart = page.get_by_role("img", name="online record per version")
    expect(chart).to_be_visible()
    assert chart.evaluate("img => img.complete && img.naturalWidth") > 400  # the PNG decoded
    page.screenshot(path=tmp_path / "online_record_chart.png")
    page.keyboard.press("Escape")

    page.goto(f"{base}/assets/online_record?view=checks")
    expect(page.get_by_text("proxy_up_goal_down").first).to_be_visible()
    expect(page.get_by_text("v1: clicks_per_user 1 -> 2 but timespent_per_user 30 -> 20").first).to_be_visible()
    page.screenshot(path=tmp_path / "online_record_checks.png", full_page=True)


def _views() -> tuple[list[ModelView], np.ndarray]:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.6, 500)
    labels = (rng.uniform(size=p.size) < p).astype(int)
    lists = rng.integers(1, 50, size=(20, 10))
    views = [
        ModelView(name, version, lists, rng.uniform(0, 1, lists.shape), lists, p, rng.uniform(0, 1, 200))
        for name, version in (("challenger v2", 2), ("champion v1", 1))
    ]
    return views, labels


def test_the_report_shows_its_verdict_and_the_predicted_online_lift(page, tmp_path):
    lifts = {"timespent": lift("timespent", -0.01, -0.03, 0.01), "click": lift("click", 0.05, 0.02, 0.08, "win")}
    policy = replace(PromotionPolicy.load(DEFAULT_POLICY), offpolicy_goal_margin=0.01)  # a -3% bound fails at 1%
    verdict = decide(comparison(), policy, offpolicy=lifts)
    views, labels = _views()
    report = write_report(tmp_path / "report", verdict, comparison(), views, labels, {"challenger": 2})
    page.goto(report.as_uri())
    expect(page.get_by_role("heading", level=1)).to_have_text("Promotion report: REFUSED")
    expect(page.get_by_text(verdict.reason, exact=True)).to_be_visible()
    section = page.locator(f"#{ONLINE_LIFT_ID}")
    expect(section.get_by_role("heading", name="Predicted online lift")).to_be_visible()
    expect(section.get_by_text("goal rule FAILED")).to_be_visible()
    expect(section.get_by_role("cell", name="OPE goal: timespent/slate")).to_be_visible()
    forest = section.get_by_role("img", name="forest plot of the lifts")
    forest.scroll_into_view_if_needed()
    assert forest.evaluate("img => img.complete && img.naturalWidth") > 200
    section.screenshot(path=tmp_path / "report_online_lift.png")
    page.screenshot(path=tmp_path / "report.png", full_page=True)
