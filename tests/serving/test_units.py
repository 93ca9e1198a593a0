"""Serving's pure parts on hand-written inputs: business rules, the slate policy, the body limit,
route labels and the feedback log's files."""

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.landing import read_landed_day, served_files, write_partition
from core.schema import RAW_LOG_COLUMNS
from quality.contracts import RawLogs
from serving.feedback import ImpressionLog
from serving.http import BodySizeLimit, route_label
from simulator.generate import plackett_luce_propensities
from slate.rules import draw_slate, logits, unseen_mask


def test_unseen_mask_drops_consumed_items():
    assert unseen_mask(np.array([5, 6, 7, 8]), [6, 8, 99]).tolist() == [True, False, True, False]
    assert unseen_mask(np.array([5, 6]), set()).tolist() == [True, True]


def test_greedy_slate_caps_items_per_category():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    categories = np.array([1, 1, 1, 2, 2, 3])
    slate = draw_slate(scores, categories, np.ones(6, bool), k=4, max_per_category=2)
    assert slate.positions.tolist() == [0, 1, 3, 4]  # the third item of category 1 is capped out
    assert slate.propensities.tolist() == [1.0, 1.0, 1.0, 1.0]
    uncapped = draw_slate(scores, categories, np.ones(6, bool), k=4, max_per_category=None)
    assert uncapped.positions.tolist() == [0, 1, 2, 3]


def test_slate_respects_eligibility_and_returns_fewer_when_the_cap_runs_out():
    scores = np.array([0.9, 0.8, 0.7])
    slate = draw_slate(scores, np.array([1, 1, 1]), np.array([False, True, True]), k=3, max_per_category=1)
    assert slate.positions.tolist() == [1]


def test_sampled_slate_logs_plackett_luce_propensities():
    scores = np.array([0.6, 0.3, 0.1])
    slate = draw_slate(scores, np.array([1, 2, 3]), np.ones(3, bool), 3, None, temperature=1.0,
                       rng=np.random.default_rng(0))  # fmt: skip
    probabilities = np.exp(logits(scores)) / np.exp(logits(scores)).sum()
    expected = plackett_luce_propensities(probabilities[None, :], slate.positions[None, :])[0]
    np.testing.assert_allclose(slate.propensities, expected, rtol=1e-9)
    assert sorted(slate.positions.tolist()) == [0, 1, 2]


def test_slate_rejects_bad_settings():
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        draw_slate(np.ones(2), np.ones(2), np.ones(2, bool), 1, None, temperature=-1)
    with pytest.raises(ValueError, match="needs a random generator"):
        draw_slate(np.ones(2), np.ones(2), np.ones(2, bool), 1, None, temperature=0.5)
    with pytest.raises(ValueError, match="max_per_category must be >= 1"):
        draw_slate(np.ones(2), np.ones(2), np.ones(2, bool), 1, 0)


def test_route_labels_are_bounded():
    assert route_label("/recommend/42") == "/recommend"
    assert route_label("/recommend") == "/recommend"
    assert route_label("/metrics") == "/metrics"
    assert route_label("/recommendations") == "other"


def test_body_limit_answers_413_by_header_and_by_stream():
    app = FastAPI()

    @app.post("/echo")
    async def echo(body: dict) -> dict:
        return body

    app.add_middleware(BodySizeLimit, max_bytes=64)
    client = TestClient(app)
    assert client.post("/echo", json={"a": 1}).json() == {"a": 1}
    too_big = client.post("/echo", json={"a": "x" * 100})
    assert too_big.status_code == 413 and "over the limit of 64 bytes" in too_big.json()["detail"]

    def chunks():  # no Content-Length: the limit holds while the body streams
        yield b'{"a": "'
        yield b"x" * 100
        yield b'"}'

    streamed = client.post("/echo", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_impression_log_lands_raw_logs_per_day_beside_the_producer_partition(tmp_path):
    landing, served = tmp_path / "raw_logs", tmp_path / "served"
    log = ImpressionLog(served, flush_rows=1000)
    late = pd.Timestamp("2026-02-01 23:59:59.5", tz="UTC")
    log.record("r1", 7, [11, 12], [1.0, 0.5], late)
    log.record("r2", 8, [13], [0.25], late + pd.Timedelta(seconds=1))  # the next day
    written = log.flush()
    assert [p.parent.name for p in written] == ["date=2026-02-01", "date=2026-02-02"]
    assert log.flush() == [] and log.written == 3

    producer = pd.DataFrame(
        {
            "event_id": ["p-1"],
            "ts": [pd.Timestamp("2026-02-01 10:00", tz="UTC")],
            "user_id": [7],
            "item_id": [11],
            "event_type": ["click"],
            "position": [1],
            "propensity": [0.9],
            "timespent_s": [30.0],
            "session_id": ["s-1"],
        }
    )
    write_partition(landing, "2026-02-01", producer)
    day = read_landed_day(landing, served, "2026-02-01")
    assert list(day.columns) == RAW_LOG_COLUMNS
    assert day["event_id"].tolist() == ["p-1", "srv-r1-1", "srv-r1-2"]
    assert day["position"].tolist() == [1, 1, 2] and day["propensity"].tolist() == [0.9, 1.0, 0.5]
    RawLogs.validate(day, lazy=True)  # the served rows obey the producers' contract
    assert len(served_files(served, "2026-02-02")) == 1
