"""Dagster resources, one set per profile, all derived from ``RelaySettings``.

Each resource carries only ``home`` and ``profile``: the settings object decides every path
and URI, so the Dagster UI, the CLI and the tests cannot disagree about where state lives.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
from feast import FeatureStore
from pydantic import PrivateAttr

from feature_repo.store import open_store
from relay import lake, registry
from relay.config import RelaySettings


class _SettingsResource(dg.ConfigurableResource):
    home: str
    profile: str = "embedded"

    def settings(self) -> RelaySettings:
        return RelaySettings(home=Path(self.home), profile=self.profile)


class LakeResource(_SettingsResource):
    """DuckDB over the lake's parquet partitions."""

    def connect(self) -> duckdb.DuckDBPyConnection:
        return lake.connect(self.settings())


class FeastResource(_SettingsResource):
    """The Feast feature store of the profile (opened once per run)."""

    _store: FeatureStore | None = PrivateAttr(default=None)

    def store(self) -> FeatureStore:
        if self._store is None:
            self._store = open_store(self.settings())
        return self._store


class MLflowResource(_SettingsResource):
    """MLflow tracking and registry of the profile. Call ``configure`` before logging."""

    def configure(self) -> str:
        return registry.configure(self.settings())


def build_resources(settings: RelaySettings) -> dict[str, object]:
    home, profile = str(settings.root), settings.profile
    return {
        "lake": LakeResource(home=home, profile=profile),
        "feast": FeastResource(home=home, profile=profile),
        "mlflow_tracking": MLflowResource(home=home, profile=profile),
        "io_manager": dg.FilesystemIOManager(base_dir=str(settings.dagster_home / "storage")),
    }
