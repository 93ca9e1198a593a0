"""One settings object for the whole platform.

Every path Relay writes lives under ``home`` (``RELAY_HOME``, default ``./var``), so one
directory holds all state, is git-ignored, and a test can isolate itself by pointing
``RELAY_HOME`` at a temporary directory.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.dataset import DatasetSpan, Kind, read_dataset_span, record_dataset_span

REPO_ROOT = Path(__file__).resolve().parent.parent
Profile = Literal["embedded", "production"]
DEFAULT_PARTITIONS_START = "2026-01-05"


class RelaySettings(BaseSettings):
    """Profile and paths. Override any field with ``RELAY_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="RELAY_", frozen=True)

    profile: Profile = "embedded"
    home: Path = Field(default=Path("var"), description="Project data directory; all state lives here.")
    mlflow_experiment: str = "relay"
    ranker_model_name: str = "relay-ranker"
    sasrec_model_name: str = "relay-sasrec"
    feast_project: str = "relay"
    partitions_start: str = Field(
        default=DEFAULT_PARTITIONS_START,
        description="First daily partition (get_settings takes the landed dataset's first day unless this is set); "
        "the demo world starts here too.",
    )
    # Production profile services (see infra/production/).
    postgres_server: str = Field(
        default="postgresql+psycopg2://postgres@127.0.0.1:5432",
        description="Postgres server URL (no database); Relay uses <database_prefix>_dagster, _mlflow, _feast.",
    )
    database_prefix: str = "relay"
    redis_url: str = "127.0.0.1:6379"
    mlflow_port: int = 5000
    mlflow_tracking_uri: str | None = Field(
        default=None,
        description="Explicit MLflow tracking URI; defaults to SQLite under home (embedded) or the "
        "profile's MLflow server on 127.0.0.1:<mlflow_port> (production).",
    )

    @cached_property
    def root(self) -> Path:
        return self.home.expanduser().resolve()

    # -- raw and lake data ------------------------------------------------------------
    @property
    def landing_dir(self) -> Path:
        return self.root / "landing" / "raw_logs"

    @property
    def served_dir(self) -> Path:
        """Serving's feedback log: served impressions in the raw-log schema, one folder per day."""
        return self.root / "landing" / "served"

    @property
    def world_dir(self) -> Path:
        return self.root / "world"

    @property
    def lake_dir(self) -> Path:
        return self.root / "lake"

    @property
    def events_dir(self) -> Path:
        return self.lake_dir / "events"

    @property
    def quarantine_dir(self) -> Path:
        return self.lake_dir / "quarantine"

    @property
    def features_dir(self) -> Path:
        return self.lake_dir / "features"

    @property
    def embeddings_dir(self) -> Path:
        return self.lake_dir / "embeddings"

    @property
    def duckdb_path(self) -> Path:
        return self.lake_dir / "relay.duckdb"

    # -- services -----------------------------------------------------------------------
    @property
    def feast_dir(self) -> Path:
        return self.root / "feast"

    @property
    def mlflow_dir(self) -> Path:
        return self.root / "mlflow"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        if self.profile == "production":
            return f"http://127.0.0.1:{self.mlflow_port}"
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    def database_url(self, purpose: str, driver: bool = True) -> str:
        """URL of the production database for ``purpose`` (dagster, mlflow or feast)."""
        server = self.postgres_server.rstrip("/")
        if not driver:
            server = server.replace("postgresql+psycopg2://", "postgresql://")
        return f"{server}/{self.database_prefix}_{purpose}"

    @property
    def artifact_root(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def models_dir(self) -> Path:
        """Scratch space for checkpoints before they are logged to MLflow."""
        return self.root / "models"

    def ensure_dirs(self) -> None:
        for path in (
            self.landing_dir,
            self.world_dir,
            self.events_dir,
            self.quarantine_dir,
            self.features_dir,
            self.embeddings_dir,
            self.feast_dir,
            self.mlflow_dir,
            self.artifact_root,
            self.dagster_home,
            self.models_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)


def get_settings() -> RelaySettings:
    """Read settings from the environment now (not cached, so tests can switch RELAY_HOME).

    The landed dataset's record (``<home>/relay.json``, see ``core.dataset``) gives the
    partition start unless ``RELAY_PARTITIONS_START`` says otherwise.
    """
    settings = RelaySettings()
    span = read_dataset_span(settings.root)
    if "RELAY_PARTITIONS_START" not in os.environ and span is not None:
        return settings.model_copy(update={"partitions_start": span.first_day})
    return settings


def record_dataset(
    settings: RelaySettings, first_day: str, source: str, last_day: str | None = None, kind: Kind = "live"
) -> Path:
    """Remember the landed dataset's span: its first day (the partition start), its last day
    unless it is a live feed, and where it came from."""
    return record_dataset_span(settings.root, DatasetSpan(kind, first_day, last_day, source))
