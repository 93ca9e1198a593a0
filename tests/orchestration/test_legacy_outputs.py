"""A data directory written before typed results keeps working: the dicts (and the path) that
Dagster pickled for the ML assets load as their dataclasses, and the MLflow pyfunc wrappers
pickled then still unpickle as the current wrapper classes."""

import math
import shutil
from pathlib import Path

import cloudpickle
import dagster as dg
import pytest

from orchestration.io_manager import RelayIOManager
from orchestration.resources import build_resources
from promotion.outcome import GateOutcome, PromotionDecision
from training.ranker.pyfunc import RankerPyfunc
from training.ranker.run import RankerRun
from training.ranker.training_set import RankerTrainingData
from training.sasrec.pyfunc import SASRecPyfunc
from training.sasrec.run import SASRecRun
from training.split import TemporalSplit

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"
ASSET_FILES = (
    "training_window",
    "sasrec_model",
    "sasrec_embeddings",
    "ranker_training_set",
    "ranker_model",
    "holdout_evaluation",
    "champion",
)


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """A Dagster storage directory as the old FilesystemIOManager left it: one pickle per asset key."""
    for name in ASSET_FILES:
        shutil.copyfile(LEGACY / name, tmp_path / name)
    return tmp_path


def _load(storage: Path, key: str) -> object:
    manager = RelayIOManager(base_dir=str(storage)).create_io_manager(dg.build_init_resource_context())
    asset_key = dg.AssetKey(key)
    return manager.load_input(
        dg.build_input_context(asset_key=asset_key, upstream_output=dg.build_output_context(asset_key=asset_key))
    )


def test_legacy_sasrec_model_loads_as_a_sasrec_run(storage):
    run = _load(storage, "sasrec_model")
    assert run == SASRecRun(version=1, run_id="0123456789abcdef0123456789abcdef", sha256="ab" * 32)


def test_legacy_ranker_outputs_load_as_typed_results(storage):
    training_set = _load(storage, "ranker_training_set")
    assert training_set == RankerTrainingData(path="/data/lake/ranker/training_set_sasrec_v1.parquet")
    run = _load(storage, "ranker_model")
    assert isinstance(run, RankerRun)
    assert (run.version, run.run_id, run.embedding_version) == (1, "fedcba9876543210fedcba9876543210", 1)


def test_legacy_holdout_evaluation_loads_as_a_gate_outcome(storage):
    outcome = _load(storage, "holdout_evaluation")
    assert isinstance(outcome, GateOutcome)
    assert (outcome.candidate_version, outcome.candidate_run_id) == (1, "fedcba9876543210fedcba9876543210")
    assert outcome.champion_version is None and outcome.passed and outcome.gate == "passed"
    assert outcome.reason == "no champion yet: challenger v1 passes every guardrail"
    assert math.isclose(outcome.candidate_ndcg_at_10, 0.1538)
    assert outcome.metrics.to_dict(orient="records") == [{"model": "popularity", "ndcg_at_10": 0.093}]
    assert outcome.report == "/data/reports/ranker-v1/report.html"


def test_legacy_champion_loads_as_a_promotion_decision(storage):
    decision = _load(storage, "champion")
    assert decision == PromotionDecision(
        promoted=True, candidate_version=1, reason="no champion yet", serving_version=1, previous_version=None
    )


def test_outputs_that_kept_their_type_load_unchanged(storage):
    assert _load(storage, "training_window") == TemporalSplit("2026-01-05", "2026-02-12", "2026-02-26", "2026-03-04")
    assert _load(storage, "sasrec_embeddings") == 1


def test_a_typed_asset_input_reads_a_legacy_output_in_a_run(storage, settings):
    """Through Dagster itself: a run whose input was written by the old code type-checks."""

    @dg.asset
    def probe(holdout_evaluation: GateOutcome) -> int:
        return holdout_evaluation.candidate_version

    resources = {**build_resources(settings), "io_manager": RelayIOManager(base_dir=str(storage))}
    result = dg.materialize([dg.AssetSpec("holdout_evaluation"), probe], resources=resources, selection=[probe])
    assert result.success and result.output_for_node("probe") == 1


def test_build_resources_stores_where_the_old_io_manager_did(settings):
    manager = build_resources(settings)["io_manager"]
    assert isinstance(manager, RelayIOManager)
    assert manager.base_dir == str(settings.dagster_home / "storage")


@pytest.mark.parametrize(("name", "wrapper"), [("ranker", RankerPyfunc), ("sasrec", SASRecPyfunc)])
def test_legacy_pyfunc_wrappers_unpickle_as_the_current_classes(name, wrapper):
    model = cloudpickle.loads((LEGACY / f"{name}_python_model.pkl").read_bytes())
    assert isinstance(model, wrapper)
