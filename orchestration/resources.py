"""Dagster resources, one set per profile, all derived from ``RelaySettings``.

Each resource carries the settings object itself: it decides every path and URI, so the
Dagster UI, the CLI and the tests cannot disagree about where state lives.
"""

from __future__ import annotations

import dagster as dg
import duckdb
from feast import FeatureStore
from pydantic import PrivateAttr

from core import lake
from core.settings import RelaySettings
from features.feast_store import open_store
from orchestration.io_manager import RelayIOManager
from training import registry


class _SettingsResource(dg.ConfigurableResource):
    """Carries the whole settings object (as JSON), so a run sees exactly the profile it was built for."""

    settings_json: str

    def settings(self) -> RelaySettings:
        return RelaySettings.model_validate_json(self.settings_json)


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
    frozen = settings.model_copy(update={"home": settings.root}).model_dump_json()
    return {
        "lake": LakeResource(settings_json=frozen),
        "feast": FeastResource(settings_json=frozen),
        "mlflow_tracking": MLflowResource(settings_json=frozen),
        "io_manager": RelayIOManager(base_dir=str(settings.dagster_home / "storage")),
    }
