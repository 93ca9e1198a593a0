"""The Dagster config of each model is generated from its training dataclass: no field can be
missing from the launchpad or a run config, and every default is the dataclass's own."""

import dataclasses

import dagster as dg
import pytest

from orchestration.dataclass_config import config_class, from_config
from orchestration.definitions import all_assets
from training.catchup.run import CatchupLaunch
from training.ranker.lgbm import RankerConfig
from training.sasrec.run import SASRecLaunch
from training.sasrec.train import SASRecTrainConfig
from training.split import SplitConfig

SOURCES = {
    "training_window": (SplitConfig,),
    "sasrec_model": (SASRecTrainConfig, SASRecLaunch, CatchupLaunch),
    "ranker_model": (RankerConfig,),
}


def _config_fields(asset_name: str) -> dict:
    (asset,) = [a for a in all_assets if a.key.to_user_string() == asset_name]
    return asset.op.config_schema.config_type.fields


@pytest.mark.parametrize("asset_name", sorted(SOURCES))
def test_every_dataclass_field_is_in_the_asset_config_with_its_default(asset_name):
    fields = _config_fields(asset_name)
    expected = {spec.name: spec.default for source in SOURCES[asset_name] for spec in dataclasses.fields(source)}
    assert set(fields) == set(expected)
    for name, default in expected.items():
        assert fields[name].default_provided, name
        assert fields[name].default_value == default, name


def test_existing_run_config_keys_still_configure_the_models():
    """The keys the CLI and the tests pass; fields left out keep the dataclass defaults."""
    sasrec = SOURCES["sasrec_model"]
    settings_class = config_class("Probe", "probe", *sasrec)
    config = settings_class(epochs=3, dim=32, patience=6, launch="subprocess", nproc=2)
    train, how = from_config(config, SASRecTrainConfig), from_config(config, SASRecLaunch)
    assert train == SASRecTrainConfig(epochs=3, dim=32, patience=6)
    assert how == SASRecLaunch(launch="subprocess", nproc=2)


def test_a_run_config_reaches_the_training_dataclass():
    from orchestration.assets.ranker import RankerSettings

    seen = {}

    @dg.asset
    def probe(config: RankerSettings) -> None:
        seen["config"] = from_config(config, RankerConfig)

    run_config = {"ops": {"probe": {"config": {"n_estimators": 80, "subsample": 0.5}}}}
    assert dg.materialize([probe], run_config=run_config).success
    assert seen["config"] == RankerConfig(n_estimators=80, subsample=0.5)


def test_fields_of_two_sources_may_not_collide():
    @dataclasses.dataclass(frozen=True)
    class Clash:
        epochs: int = 1

    with pytest.raises(TypeError, match="already a field"):
        config_class("Clashing", "", SASRecTrainConfig, Clash)
