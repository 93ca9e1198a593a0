"""Close the loop: every served slate becomes impressions in the landing area.

Rows use Relay's raw-log schema with the serving propensities, so the next day's ingestion
validates, accounts and learns from them like any producer's logs. Session ids read
``srv-v{model_version}-{request_id}``: which model served a slate is part of the log. Slates buffer in memory and
are written atomically as ``landing/served/date=D/part-*.parquet`` every ``flush_s`` seconds,
at ``flush_rows`` rows, and at shutdown.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from core import atomic
from core.landing import served_day_dir
from core.schema import RAW_LOG_COLUMNS


def served_session_id(model_version: int, request_id: str) -> str:
    """``srv-v{version}-{request}``: the served model version travels in the raw-log schema itself
    (no extra column), so every producer's contract and the lake stay as they are."""
    return f"srv-v{int(model_version)}-{request_id}"


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
        self,
        request_id: str,
        user_id: int,
        item_ids: list[int],
        propensities: list[float],
        ts: pd.Timestamp,
        *,
        model_version: int,
    ) -> None:
        """Buffer one served slate; its session id names ``model_version``, so the online record
        of every champion can be read back from the landed logs (``evaluation.online_record``)."""
        k = len(item_ids)
        session_id = served_session_id(model_version, request_id)
        with self._lock:
            rows = self._rows
            rows["event_id"].extend(f"{session_id}-{position}" for position in range(1, k + 1))
            rows["ts"].extend([ts.value] * k)  # ns since the epoch, UTC
            rows["user_id"].extend([user_id] * k)
            rows["item_id"].extend(item_ids)
            rows["event_type"].extend(["impression"] * k)
            rows["position"].extend(range(1, k + 1))
            rows["propensity"].extend(propensities)
            rows["timespent_s"].extend([0.0] * k)
            rows["session_id"].extend([session_id] * k)
            pending = len(rows["event_id"])
        if pending >= self.flush_rows:
            self.flush()

    def flush(self) -> list[Path]:
        """Write what is buffered, one file per day; returns the files written.

        Built with pyarrow directly (no pandas): a flush runs beside live requests, so it must be short.
        """
        with self._lock:
            rows, self._rows = self._rows, {column: [] for column in RAW_LOG_COLUMNS}
        if not rows["event_id"]:
            return []
        stamps = np.array(rows["ts"], dtype="datetime64[ns]")
        table = pa.table(
            {
                "event_id": pa.array(rows["event_id"], pa.string()),
                "ts": pa.array(stamps).cast(pa.timestamp("ns", tz="UTC")),
                "user_id": pa.array(rows["user_id"], pa.int64()),
                "item_id": pa.array(rows["item_id"], pa.int64()),
                "event_type": pa.array(rows["event_type"], pa.string()),
                "position": pa.array(rows["position"], pa.int64()),
                "propensity": pa.array(rows["propensity"], pa.float64()),
                "timespent_s": pa.array(rows["timespent_s"], pa.float64()),
                "session_id": pa.array(rows["session_id"], pa.string()),
            }
        )
        days = stamps.astype("datetime64[D]")
        written = []
        for day in np.unique(days):
            part = table.filter(pa.array(days == day))
            day = str(day)
            directory = served_day_dir(self.served_dir, day)
            target = atomic.write_parquet(part, directory / f"part-{uuid.uuid4().hex}.parquet")
            written.append(target)
            self.written += part.num_rows
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
