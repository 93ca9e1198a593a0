"""The promotion report: the verdict, every compared metric with its CI, and the plots people
would rather look at than read, as one self-contained HTML file (plus JSON for `relay report`)."""

from __future__ import annotations

import base64
import json
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.comparison import Comparison, ModelView
from promotion.policy import Verdict
from training.calibration import plot_reliability

VERDICT_FILE = "verdict.json"


def _png(figure) -> str:
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode()


def _histograms(views: list[ModelView]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 41)
    for view in views:
        scores = view.candidate_scores[np.isfinite(view.candidate_scores)]
        axis.hist(np.clip(scores, 0, 1), bins=bins, alpha=0.5, density=True, label=f"{view.label}")
    axis.set_xlabel("calibrated score of retrieved candidates")
    axis.set_ylabel("density")
    axis.legend()
    figure.tight_layout()
    return figure


def _deltas(comparison: Comparison):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = comparison.frame().dropna(subset=["delta"])
    figure, axis = plt.subplots(figsize=(6, 0.4 * max(len(frame), 3) + 1))
    y = np.arange(len(frame))
    errors = np.vstack([frame["delta"] - frame["ci_low"], frame["ci_high"] - frame["delta"]]).clip(min=0)
    axis.errorbar(frame["delta"], y, xerr=errors, fmt="o", capsize=3)
    axis.axvline(0, color="grey", linewidth=1)
    axis.set_yticks(y, frame["metric"])
    axis.set_xlabel("challenger - champion (95% bootstrap CI)")
    figure.tight_layout()
    return figure


def write_report(
    directory: Path,
    verdict: Verdict,
    comparison: Comparison,
    views: list[ModelView],
    labels: np.ndarray,
    header: dict[str, object],
) -> Path:
    """Write ``report.html`` and ``verdict.json`` into ``directory``; returns the HTML path."""
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    reliability = directory / "reliability.png"
    plot_reliability(
        {v.label: (v.impression_scores, labels) for v in views}, reliability, "reliability on the holdout impressions"
    )
    images = {"reliability": base64.b64encode(reliability.read_bytes()).decode(), "scores": _png(_histograms(views))}
    if any(row.delta is not None for row in comparison.rows):
        images["deltas"] = _png(_deltas(comparison))
    plt.close("all")
    table = comparison.frame().to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="")
    rules = pd.DataFrame([vars(rule) for rule in verdict.rules]).to_html(index=False, na_rep="")
    status = "PROMOTABLE" if verdict.passed else "REFUSED"
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>Relay promotion report</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}} .refused{{color:#b00}} .passed{{color:#070}}</style></head><body>
<h1>Promotion report: <span class="{"passed" if verdict.passed else "refused"}">{status}</span></h1>
<p>{" · ".join(f"{k}: {v}" for k, v in header.items())}</p><p>{verdict.reason}</p>
<h2>Guardrails</h2>{rules}<h2>Metrics (challenger vs champion, paired bootstrap 95% CI)</h2>{table}
<h2>Reliability</h2><img src="data:image/png;base64,{images["reliability"]}">
<h2>Score distributions</h2><img src="data:image/png;base64,{images["scores"]}">
{f'<h2>Metric deltas</h2><img src="data:image/png;base64,{images["deltas"]}">' if "deltas" in images else ""}
</body></html>"""
    path = directory / "report.html"
    path.write_text(html)
    payload = {
        "header": header,
        "verdict": verdict.as_dict(),
        "comparison": comparison.frame().to_dict(orient="records"),
        "diagnostics": comparison.diagnostics,
    }
    (directory / VERDICT_FILE).write_text(json.dumps(payload, indent=2, default=str))
    return path


def report_dir(root: Path, version: int) -> Path:
    """Where the gate's report on ranker ``version`` lives under the data directory ``root``."""
    return root / "reports" / f"ranker-v{version}"


def find_report(root: Path, version: int | None = None) -> Path | None:
    """The report folder of ``version``, or of the newest evaluated version; None if there is none."""
    folders = sorted((root / "reports").glob("ranker-v*"), key=lambda p: int(p.name.removeprefix("ranker-v")))
    if version is not None:
        folders = [f for f in folders if f == report_dir(root, version)]
    return folders[-1] if folders else None


def read_verdict(directory: Path) -> dict:
    return json.loads((directory / VERDICT_FILE).read_text())
