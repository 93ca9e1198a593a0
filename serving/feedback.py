"""Close the loop: every served slate becomes impressions in the landing area.

Rows use Relay's raw-log schema with the serving propensities, so the next day's ingestion
validates, accounts and learns from them like any producer's logs. Slates buffer in memory and
are written atomically as ``landing/served/date=D/part-*.parquet`` every ``flush_s`` seconds,
at ``flush_rows`` rows, and at shutdown.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from relay.landing import served_day_dir
from relay.schema import RAW_LOG_COLUMNS


class ImpressionLog:
    def __init__(self, served_dir: Path, flush_rows: int = 20_000) -> None:
        self.served_dir = served_dir
        self.flush_rows = flush_rows
        self._rows: dict[str, list] = {column: [] for column in RAW_LOG_COLUMNS}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0

    def record(
        self, request_id: str, user_id: int, item_ids: list[int], propensities: list[float], ts: pd.Timestamp
    ) -> None:
        k = len(item_ids)
        with self._lock:
            rows = self._rows
            rows["event_id"].extend(f"srv-{request_id}-{position}" for position in range(1, k + 1))
            rows["ts"].extend([ts] * k)
            rows["user_id"].extend([user_id] * k)
            rows["item_id"].extend(item_ids)
            rows["event_type"].extend(["impression"] * k)
            rows["position"].extend(range(1, k + 1))
            rows["propensity"].extend(propensities)
            rows["timespent_s"].extend([0.0] * k)
            rows["session_id"].extend([f"srv-{request_id}"] * k)
            pending = len(rows["event_id"])
        if pending >= self.flush_rows:
            self.flush()

    def flush(self) -> list[Path]:
        """Write what is buffered, one file per day; returns the files written."""
        with self._lock:
            rows, self._rows = self._rows, {column: [] for column in RAW_LOG_COLUMNS}
        if not rows["event_id"]:
            return []
        frame = pd.DataFrame(rows).astype(
            {"user_id": "int64", "item_id": "int64", "position": "int64", "propensity": "float64"}
        )
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[ns, UTC]")
        written = []
        for day, part in frame.groupby(frame["ts"].dt.strftime("%Y-%m-%d"), sort=True):
            directory = served_day_dir(self.served_dir, day)
            directory.mkdir(parents=True, exist_ok=True)
            target = directory / f"part-{uuid.uuid4().hex}.parquet"
            tmp = target.with_suffix(".parquet.tmp")
            pq.write_table(pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False), tmp)
            os.replace(tmp, target)
            written.append(target)
            self.written += len(part)
        return written

    def start(self, flush_s: float) -> None:
        def loop() -> None:
            while not self._stop.wait(flush_s):
                self.flush()

        self._thread = threading.Thread(target=loop, name="impression-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()
