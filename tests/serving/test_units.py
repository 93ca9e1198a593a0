"""Serving's pure parts on hand-written inputs: the body limit, route labels and the feedback log's files."""

import pandas as pd
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.landing import read_landed_day, served_files, write_partition
from core.schema import RAW_LOG_COLUMNS
from quality.contracts import RawLogs
from serving.feedback import ImpressionLog
from serving.http import BodySizeLimit, route_label


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
    log.record("r1", 7, [11, 12], [1.0, 0.5], late, model_version=3)
    log.record("r2", 8, [13], [0.25], late + pd.Timedelta(seconds=1), model_version=3)  # the next day
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
    assert day["event_id"].tolist() == ["p-1", "srv-v3-r1-1", "srv-v3-r1-2"]
    assert day["position"].tolist() == [1, 1, 2] and day["propensity"].tolist() == [0.9, 1.0, 0.5]
    RawLogs.validate(day, lazy=True)  # the served rows obey the producers' contract
    assert len(served_files(served, "2026-02-02")) == 1
