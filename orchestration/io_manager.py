"""The filesystem IO manager of Relay: Dagster's pickles, read forward-compatibly.

Before typed results, the ML assets returned dicts (and ``ranker_training_set`` a path), and
``FilesystemIOManager`` pickled them under ``<base_dir>/<asset_key>``. A data directory written
then must keep working: a run that loads such an output as an input (a partial re-run, say)
gets the typed result, upgraded on load by the dataclass's ``from_legacy``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg

from promotion.outcome import GateOutcome, PromotionDecision
from training.ranker.run import RankerRun
from training.ranker.training_set import RankerTrainingData
from training.sasrec.run import SASRecRun

# asset key -> (what the old code stored, how to upgrade it)
LEGACY: dict[str, tuple[type, Callable[[Any], object]]] = {
    "sasrec_model": (dict, SASRecRun.from_legacy),
    "ranker_training_set": (str, RankerTrainingData.from_legacy),
    "ranker_model": (dict, RankerRun.from_legacy),
    "holdout_evaluation": (dict, GateOutcome.from_legacy),
    "champion": (dict, PromotionDecision.from_legacy),
}


def upgrade(asset_key: dg.AssetKey, value: object) -> object:
    """``value`` as the current code types it: a legacy output becomes its dataclass."""
    legacy = LEGACY.get(asset_key.to_user_string())
    if legacy is not None and isinstance(value, legacy[0]):
        return legacy[1](value)
    return value


class UpgradingIOManager(dg.IOManager):
    """Stores exactly as the wrapped filesystem IO manager does; upgrades legacy values on load."""

    def __init__(self, stored: dg.IOManager) -> None:
        self._stored = stored

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        self._stored.handle_output(context, obj)

    def load_input(self, context: dg.InputContext) -> object:
        value = self._stored.load_input(context)
        return upgrade(context.asset_key, value) if context.has_asset_key else value


class RelayIOManager(dg.ConfigurableIOManagerFactory):
    """Drop-in for ``dg.FilesystemIOManager(base_dir=...)`` (same layout, same pickles): existing
    storage directories load as before, legacy outputs as their typed results."""

    base_dir: str

    def create_io_manager(self, context: dg.InitResourceContext) -> UpgradingIOManager:
        return UpgradingIOManager(dg.FilesystemIOManager(base_dir=self.base_dir).create_io_manager(context))
