"""The online record of every served model version: what its users actually did, day by day.

Offline metrics and off-policy estimates predict an online lift; this is what came true. Served
slates carry their model version in the session id (``srv-v{version}-{request}``, written by
``serving.feedback``), and the outcomes of a served session land beside its impressions in the
same served day folder. Per version and day we count the proxy the models are trained on (clicks
per user) and the goal it stands for (timespent per user), plus the next-day return rate, which
is only known once the following day has landed.

The records are stored as small parquet tables under ``lake/online_record/date=D/`` so that a
later day can be compared with the previous recorded day of the same version, and plotted.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from core import atomic
from core.landing import served_files

SERVED_SESSION = re.compile(r"^srv-v(\d+)-")
PROXY = "clicks_per_user"
GOAL = "timespent_per_user"
# Relative changes smaller than this count as "unchanged": two identical days differ only by
# float rounding, and the warning is meant for a real divergence of proxy and goal.
MIN_RELATIVE_CHANGE = 0.01


def served_version(session_id: str) -> int | None:
    """The model version that served a session, or None for a session no versioned server logged."""
    match = SERVED_SESSION.match(str(session_id))
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class VersionRecord:
    """One version's realised proxy and goal on one day."""

    version: int
    impressions: int
    sessions: int
    users: int
    clicks: int
    ctr: float | None  # None when the version showed nothing (only late outcomes landed)
    clicks_per_user: float
    timespent_per_user: float
    next_day_return_rate: float | None  # None until the next day has landed


@dataclass(frozen=True)
class OnlineRecord:
    """Every served version's record of one day, and what could not be attributed to a version."""

    versions: tuple[VersionRecord, ...]
    unattributed_rows: int
    next_day_landed: bool

    def version(self, version: int) -> VersionRecord | None:
        return next((v for v in self.versions if v.version == version), None)

    def as_frame(self) -> pd.DataFrame:
        """One row per version (the stored and displayed table); missing values are NaN."""
        columns = [f.name for f in fields(VersionRecord)]
        frame = pd.DataFrame([asdict(v) for v in self.versions], columns=columns)
        for column in columns:
            if column in ("ctr", "next_day_return_rate"):
                frame[column] = frame[column].astype("float64")
        return frame.astype({c: "int64" for c in ("version", "impressions", "sessions", "users", "clicks")})


def online_record(day_events: pd.DataFrame, next_day_events: pd.DataFrame | None) -> OnlineRecord:
    """Per model version of ``day_events`` (raw-log rows of the served day folder): impressions,
    sessions (served slates), users, clicks, CTR, clicks and timespent per user, and the share of
    its users with any served event in ``next_day_events`` (None when that day has not landed)."""
    versions = day_events["session_id"].map(served_version)
    attributed = day_events[versions.notna()].assign(version=versions.dropna().astype("int64"))
    returning = None if next_day_events is None else set(next_day_events["user_id"].tolist())
    records = []
    for version, rows in attributed.groupby("version", sort=True):
        shown = rows[rows["event_type"] == "impression"]
        clicked = rows[rows["event_type"] == "click"]
        users = set(rows["user_id"].tolist())
        records.append(
            VersionRecord(
                version=int(version),
                impressions=len(shown),
                sessions=int(shown["session_id"].nunique()),
                users=len(users),
                clicks=len(clicked),
                ctr=len(clicked) / len(shown) if len(shown) else None,
                clicks_per_user=len(clicked) / len(users),
                timespent_per_user=float(clicked["timespent_s"].sum()) / len(users),
                next_day_return_rate=None if returning is None else len(users & returning) / len(users),
            )
        )
    return OnlineRecord(tuple(records), int(versions.isna().sum()), next_day_events is not None)


def read_served_day(served_dir: Path, day: str) -> pd.DataFrame | None:
    """Everything that landed in the served folder of ``day``, or None if nothing has landed."""
    files = served_files(served_dir, day)
    if not files:
        return None
    return pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)


def record_path(lake_dir: Path, day: str) -> Path:
    return lake_dir / "online_record" / f"date={day}" / "record.parquet"


def write_record(lake_dir: Path, day: str, record: OnlineRecord) -> Path:
    """Store (or replace) the record of ``day``: re-recording a day once its next day landed fills
    in the return rate."""
    return atomic.write_parquet(record.as_frame(), record_path(lake_dir, day))


def read_history(lake_dir: Path, through: str) -> pd.DataFrame:
    """Stored records of every day up to ``through``, with a ``date`` column, oldest first."""
    empty = OnlineRecord((), 0, False).as_frame()
    frames = [
        pd.read_parquet(path).assign(date=path.parent.name.removeprefix("date="))
        for path in sorted((lake_dir / "online_record").glob("date=*/record.parquet"))
        if path.parent.name.removeprefix("date=") <= through
    ]
    frame = pd.concat(frames, ignore_index=True) if frames else empty.assign(date=pd.Series(dtype=str))
    return frame[["date", *empty.columns]].sort_values(["date", "version"], ignore_index=True)


def _changed(before: float, after: float, tolerance: float) -> int:
    """+1 if ``after`` rose past ``before`` by more than ``tolerance`` (relative), -1 if it fell, else 0."""
    margin = tolerance * abs(before)
    return 1 if after - before > margin else -1 if before - after > margin else 0


def proxy_up_goal_down(
    proxy_before: float,
    proxy_now: float,
    goal_before: float,
    goal_now: float,
    tolerance: float = MIN_RELATIVE_CHANGE,
) -> bool:
    """The proxy rose while the goal fell: users click more but spend less time (clickbait, or a
    model that learnt the proxy instead of what it stands for)."""
    return _changed(proxy_before, proxy_now, tolerance) > 0 and _changed(goal_before, goal_now, tolerance) < 0


@dataclass(frozen=True)
class Divergence:
    """A version whose proxy rose and goal fell versus its previous recorded day."""

    version: int
    previous_day: str
    day: str
    proxy: tuple[float, float]  # previous, now
    goal: tuple[float, float]

    def message(self) -> str:
        return (
            f"v{self.version}: {PROXY} {self.proxy[0]:.4g} -> {self.proxy[1]:.4g} but "
            f"{GOAL} {self.goal[0]:.4g} -> {self.goal[1]:.4g} ({self.previous_day} -> {self.day})"
        )


def divergences(history: pd.DataFrame, day: str, tolerance: float = MIN_RELATIVE_CHANGE) -> tuple[Divergence, ...]:
    """Versions recorded on ``day`` whose proxy rose and goal fell versus the latest earlier day
    on which the same version was recorded (a version off for a while compares with its last day on)."""
    today = history[history["date"] == day]
    earlier = history[history["date"] < day]
    found = []
    for row in today.itertuples(index=False):
        before = earlier[earlier["version"] == row.version]
        if before.empty:
            continue
        last = before.iloc[-1]
        proxy = (float(last[PROXY]), float(getattr(row, PROXY)))
        goal = (float(last[GOAL]), float(getattr(row, GOAL)))
        if proxy_up_goal_down(proxy[0], proxy[1], goal[0], goal[1], tolerance):
            found.append(Divergence(int(row.version), str(last["date"]), day, proxy, goal))
    return tuple(found)


CHART_PANELS = (
    (PROXY, "proxy: clicks per user"),
    (GOAL, "goal: timespent per user (s)"),
    ("ctr", "CTR"),
    ("next_day_return_rate", "next-day return rate"),
)


def history_chart(history: pd.DataFrame) -> bytes:
    """A PNG of proxy, goal, CTR and return rate over the recorded days, one line per version."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 6), layout="constrained")
    axes = figure.subplots(2, 2, sharex=True).ravel()
    days = sorted(history["date"].unique())
    position = {day: i for i, day in enumerate(days)}
    for ax, (column, title) in zip(axes, CHART_PANELS, strict=True):
        for version, rows in history.groupby("version", sort=True):
            values = rows[column].astype("float64")
            ax.plot([position[d] for d in rows["date"]], values, marker="o", label=f"v{version}")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    for ax in axes[2:]:
        step = max(1, math.ceil(len(days) / 8))
        ax.set_xticks(range(0, len(days), step), days[::step], rotation=30, ha="right")
    if len(history):
        axes[0].legend(title="model", loc="best")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()
