"""``relay catchup`` through Dagster on a tiny world: a new SASRec architecture trained by the
``transfer`` strategy from the champion's SASRec, registered with its lineage, then the rest of
the cycle on it (embeddings backfilled and served, a ranker retrained on them, the gate)."""

from datetime import timedelta

import dagster as dg
import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from core.settings import RelaySettings
from feature_repo.tables import embedding_dir
from features.feast_store import open_store
from orchestration import experiment_runner
from orchestration.definitions import build_definitions
from orchestration.experiment_jobs import CATCHUP_JOB
from orchestration.runner import dagster_instance
from relay.cli.main import app
from serving.contract import verify_embeddings
from tests.pipeline import QUIET, TINY_TRAINING, materialize_days, materialize_training, tiny_world
from training import registry
from training.catchup.run import CatchupRun
from training.ranker.run import RankerRun

pytestmark = pytest.mark.slow

DAYS = 15  # TINY_TRAINING's split: 3 holdout days, 6 ranker days, 6 SASRec days (5 at least)
# The incumbent only has to exist and serve: a few epochs are enough to teach from.
FIRST_CYCLE = {
    **TINY_TRAINING,
    "ops": {**TINY_TRAINING["ops"], "sasrec_model": {"config": {"epochs": 4, "dim": 32, "patience": 6}}},
}
# The catch-up cycle on the first cycle's split, with its tiny ranker; the catch-up's own fields
# come from the command line.
TINY_CATCHUP = {**QUIET, "ops": {op: TINY_TRAINING["ops"][op] for op in ("training_window", "ranker_model")}}


@pytest.fixture(scope="module")
def caught_up(tmp_path_factory):
    """A champion from one ordinary cycle, then ``relay catchup --arch sasrec_side --strategy transfer``."""
    home = tmp_path_factory.mktemp("catchup") / "var"
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("RELAY_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    settings = RelaySettings(home=home)
    settings.ensure_dirs()
    world = tiny_world(settings, days=DAYS)
    last_day = (world.start + timedelta(days=DAYS - 1)).isoformat()
    instance = dagster_instance(settings)
    assert materialize_days(settings, world.start_date, last_day, instance).success
    assert materialize_training(settings, instance, FIRST_CYCLE).success
    real, outcomes = experiment_runner.run_catchup, []

    def tiny(settings, launch, run_config=None):
        """The command's own runner, on the tiny split and ranker; keeps what it returned."""
        outcomes.append(real(settings, launch, run_config=TINY_CATCHUP))
        return outcomes[-1]

    monkeypatch.setattr(experiment_runner, "run_catchup", tiny)
    result = CliRunner().invoke(
        app, ["catchup", "--arch", "sasrec_side", "--strategy", "transfer"], catch_exceptions=False
    )
    yield settings, instance, result, outcomes[0]
    monkeypatch.undo()


def test_the_command_reports_the_new_version_its_teacher_and_the_verdict(caught_up):
    _, _, result, outcome = caught_up
    assert result.exit_code == 0, result.output
    assert isinstance(outcome.sasrec, CatchupRun) and isinstance(outcome.ranker, RankerRun)
    assert f"relay-sasrec v{outcome.sasrec.version} (sasrec_side by transfer)" in result.output
    assert "teacher (incumbent relay-sasrec)" in result.output and "training CPU-seconds" in result.output
    assert f"gate: {outcome.evaluation.gate}" in result.output
    assert ("PROMOTED" if outcome.decision.promoted else "KEPT CHAMPION") in result.output


def test_a_new_sasrec_version_is_registered_with_its_lineage(caught_up):
    settings, _, _, outcome = caught_up
    registry.configure(settings)
    sasrec = outcome.sasrec
    assert sasrec.version == registry.latest_version(settings.sasrec_model_name) == 2
    # The teacher is the SASRec the champion ranker read before the catch-up: the first cycle's.
    assert sasrec.teacher_version == sasrec.warm_started_from == 1
    tags = registry.version_tags(settings.sasrec_model_name, sasrec.version)
    assert tags["catchup.teacher_version"] == "1" and tags["catchup.strategy"] == "transfer"
    assert tags["catchup.arch"] == "sasrec_side" and float(tags["catchup.cpu_s"]) > 0
    assert float(tags["catchup.flops"]) > 0 and int(tags["catchup.sequences"]) == sasrec.sequences > 0
    model, _ = registry.load_sasrec(settings.sasrec_model_name, sasrec.version)
    assert model.config.n_categories > 0 and model.config.prior_dim > 0  # the new architecture, transferred


def test_its_mlflow_run_has_the_curve_and_the_compute(caught_up):
    settings, _, _, outcome = caught_up
    registry.configure(settings)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(outcome.sasrec.run_id)}
    assert "catchup_curve.png" in artifacts
    run = mlflow.get_run(outcome.sasrec.run_id).data
    assert run.metrics["catchup_cpu_s"] > 0 and run.metrics["sequences_trained"] == outcome.sasrec.sequences
    assert 0.0 <= run.metrics["incumbent_val_ndcg_at_10"] <= 1.0
    assert run.tags["catchup.strategy"] == "transfer" and run.tags["dagster.run_id"] == outcome.run_id


def test_the_materialization_carries_the_lineage(caught_up):
    _, instance, _, outcome = caught_up
    run = instance.get_run_by_id(outcome.run_id)
    assert run.job_name == CATCHUP_JOB and run.tags["relay/catchup"] == "sasrec_side/transfer"
    event = instance.get_latest_materialization_event(dg.AssetKey("sasrec_model"))
    assert event.run_id == outcome.run_id
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert metadata["teacher_version"] == 1 and metadata["catchup_strategy"] == "transfer"
    assert metadata["catchup_arch"] == "sasrec_side" and metadata["cpu_s"] > 0 and metadata["flops"] > 0
    assert metadata["model_version"] == outcome.sasrec.version and metadata["curve"].endswith("catchup_curve.png")


def test_the_new_embedding_version_is_written_and_served(caught_up):
    settings, _, _, outcome = caught_up
    assert outcome.embedding_version == outcome.sasrec.version
    directory = embedding_dir(settings.embeddings_dir, outcome.embedding_version)
    users = pd.read_parquet(directory / "user_embeddings.parquet")
    items = pd.read_parquet(directory / "item_embeddings.parquet")
    assert len(users) > 0 and len(items) > 0
    registry.configure(settings)
    bundle, _ = registry.load_verified_ranker(settings.ranker_model_name, outcome.ranker.version)
    # Online, the ranker's own item vectors: the new version's, loaded into Feast.
    assert bundle.embedding_version == outcome.embedding_version
    assert verify_embeddings(open_store(settings), bundle) == len(bundle.item_ids)


def test_a_ranker_was_retrained_on_it_and_gated_against_the_champion(caught_up):
    settings, _, _, outcome = caught_up
    ranker, evaluation = outcome.ranker, outcome.evaluation
    assert ranker.version == 2 and ranker.embedding_version == outcome.sasrec.version
    registry.configure(settings)
    tags = registry.version_tags(settings.ranker_model_name, ranker.version)
    assert tags["embedding_version"] == str(outcome.sasrec.version)
    assert evaluation.candidate_version == ranker.version and evaluation.champion_version == 1
    assert tags["gate"] == evaluation.gate in {"passed", "refused"}
    assert outcome.decision.promoted == evaluation.passed
    champion = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    assert int(champion.version) == (2 if evaluation.passed else 1)


def test_the_job_defaults_to_a_catch_up_over_the_whole_cycle(settings):
    job = build_definitions(settings).resolve_job_def(CATCHUP_JOB)
    cycle = build_definitions(settings).resolve_job_def("training_cycle")
    assert job.asset_layer.selected_asset_keys == cycle.asset_layer.selected_asset_keys  # the champion included
    config = job.run_config_schema.config_type.fields["ops"].config_type.fields["sasrec_model"]
    defaults = config.default_value["config"]
    assert defaults["init"] == "catchup" and defaults["catchup_arch"] == "sasrec_side"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--arch", "sasrec_side", "--strategy", "osmosis"], "unknown catch-up strategy 'osmosis'"),
        (["--arch", "gru4rec", "--strategy", "transfer"], "unknown architecture 'gru4rec'"),
    ],
)
def test_an_unknown_name_is_refused_with_the_choices(settings, flags, named):
    result = CliRunner().invoke(app, ["catchup", *flags])
    assert result.exit_code == 2 and named in result.output
    assert "combined" in result.output or "sasrec_side" in result.output
