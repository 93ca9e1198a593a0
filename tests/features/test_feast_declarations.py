"""The feature repository declares objects for the ``feast`` CLI without building Relay's settings."""

import importlib
import sys

import pytest

from core.settings import RelaySettings
from features.feast_store import placeholders


def _import_definitions():
    sys.modules.pop("feature_repo.definitions", None)
    return importlib.import_module("feature_repo.definitions")


def test_definitions_read_the_data_directory_from_the_feast_variables(settings: RelaySettings, monkeypatch) -> None:
    for name, value in placeholders(settings).items():
        monkeypatch.setenv(name, value)
    definitions = _import_definitions()
    assert definitions.user_features.name == "user_features"
    assert str(settings.features_dir) in definitions.user_features.batch_source.path


def test_definitions_name_the_missing_variable(monkeypatch) -> None:
    monkeypatch.delenv("RELAY_FEAST_FEATURES_DIR", raising=False)
    with pytest.raises(RuntimeError, match="RELAY_FEAST_FEATURES_DIR"):
        _import_definitions()
    sys.modules.pop("feature_repo.definitions", None)
