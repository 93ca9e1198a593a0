"""The report's online-lift section: the offline proxy and the predicted online proxy and goal side
by side with CIs, a forest plot, the same rows in verdict.json; and a plain sentence without OPE."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np

from evaluation.comparison import ModelView
from promotion.policy import DEFAULT_POLICY, PromotionPolicy, decide
from promotion.report import ONLINE_LIFT_ID, VERDICT_FILE, read_verdict, write_report
from tests.promotion.test_offpolicy_gate import comparison, lift

POLICY = replace(PromotionPolicy.load(DEFAULT_POLICY), offpolicy_goal_margin=0.01)  # the figures below assume 1%


def _views() -> tuple[list[ModelView], np.ndarray]:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.6, 2_000)
    labels = (rng.uniform(size=p.size) < p).astype(int)
    lists = rng.integers(1, 50, size=(20, 10))
    views = [
        ModelView(name, version, lists, rng.uniform(0, 1, lists.shape), lists, p, rng.uniform(0, 1, 500))
        for name, version in (("challenger v2", 2), ("champion v1", 1))
    ]
    return views, labels


def _section(html: str) -> str:
    match = re.search(rf'<section id="{ONLINE_LIFT_ID}">(.*?)</section>', html, re.S)
    assert match, "no online-lift section"
    return match.group(1)


def test_the_report_shows_proxy_and_goal_lifts_side_by_side_with_a_forest_plot(tmp_path):
    lifts = {"timespent": lift("timespent", -0.01, -0.03, 0.01), "click": lift("click", 0.05, 0.02, 0.08, "win")}
    verdict = decide(comparison(), POLICY, offpolicy=lifts)
    views, labels = _views()
    path = write_report(tmp_path, verdict, comparison(), views, labels, {"challenger": 2, "configuration": "none"})
    section = _section(path.read_text())
    for text in (
        "offline proxy: NDCG@10 on the holdout",
        "OPE proxy: clicks/slate",
        "OPE goal: timespent/slate",
        "+5.00% [+2.50%, +7.50%]",  # NDCG delta 0.01 [0.005, 0.015] over a champion at 0.2
        "-1.00% [-3.00%, +1.00%]",
        "+5.00% [+2.00%, +8.00%]",
        "win",
        "100% / 90%",  # support
        "800 / 400",  # ESS
        "goal rule FAILED",
    ):
        assert text in section, text
    assert section.count('src="data:image/png;base64,') == 1
    payload = read_verdict(tmp_path)
    rows = payload["online_lift"]["rows"]
    assert [row["reward"] for row in rows] == ["ndcg_at_10", "click", "timespent"]
    assert rows[2]["relative_ci_low"] == -0.03 and rows[1]["verdict"] == "win"
    assert payload["online_lift"]["goal_margin"] == 0.01
    assert payload["verdict"]["offpolicy"]["timespent"]["relative_ci_low"] == -0.03
    json.loads((tmp_path / VERDICT_FILE).read_text())  # still plain JSON


def test_without_an_estimate_the_section_says_so_plainly_and_draws_nothing(tmp_path):
    views, labels = _views()
    for policy in (POLICY, PromotionPolicy.proxy_only()):
        folder = tmp_path / str(policy.uses_offpolicy)
        verdict = decide(comparison(), policy)
        section = _section(write_report(folder, verdict, comparison(), views, labels, {}).read_text())
        assert "No off-policy estimate of the online lift: no off-policy estimate (no exploration logs" in section
        assert "offline proxy: NDCG@10" in section and "data:image/png" not in section
        assert read_verdict(folder)["online_lift"]["has_estimate"] is False


def test_an_estimate_without_support_is_shown_with_its_refusal(tmp_path):
    refusal = "the logs support 12% of the challenger's slates"
    nan = float("nan")
    lifts = {"timespent": lift("timespent", nan, nan, nan, None, refusal, 0.12)}
    verdict = decide(comparison(), replace(POLICY, offpolicy_required=True), offpolicy=lifts)
    views, labels = _views()
    section = _section(write_report(tmp_path, verdict, comparison(), views, labels, {}).read_text())
    assert "no verdict: the logs support 12%" in section
    assert "goal rule FAILED: no OPE verdict" in section
    assert "data:image/png" not in section  # nothing predicted to plot
