"""``relay explore`` then ``relay abtest`` on a tiny world's champion: the champion's exploration
log, a variant trained through Dagster and judged with the off-policy goal rule but never
promoted, both arms served through the request path, their slates landed like production's,
effects with CIs, the world's true effect, and the record in MLflow and Dagster."""

from datetime import timedelta

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from core.landing import served_files
from core.settings import RelaySettings
from experiments.arms import CONTROL, TREATMENT, in_treatment
from experiments.offpolicy import ExplorationLog, exploration_dir, true_slate_values
from orchestration.experiment_jobs import ABTEST_JOB
from orchestration.runner import dagster_instance
from relay.cli.main import app
from simulator.world import World
from tests.pipeline import materialize_days, materialize_training, tiny_world
from training import registry

pytestmark = pytest.mark.slow
DAYS = 18


@pytest.fixture(scope="module")
def abtested(tmp_path_factory):
    home = tmp_path_factory.mktemp("abtest") / "var"
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("RELAY_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    settings = RelaySettings(home=home)
    settings.ensure_dirs()
    world = tiny_world(settings, days=DAYS)
    last = (world.start + timedelta(days=DAYS - 1)).isoformat()
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_days(settings, world.start_date, last, instance).success
    assert materialize_training(settings, instance).success
    explored = CliRunner().invoke(app, ["explore", "--days", "1"], catch_exceptions=False)
    assert explored.exit_code == 0, explored.output
    result = CliRunner().invoke(
        app, ["abtest", "--treatment-config", "long_clicks", "--days", "2", "--seed", "1"], catch_exceptions=False
    )
    yield settings, world, result
    monkeypatch.undo()


def test_the_cli_trains_a_challenger_and_never_promotes_it(abtested):
    settings, _, result = abtested
    assert result.exit_code == 0, result.output
    assert "registered v2" in result.output
    registry.configure(settings)
    assert int(registry.alias_version(settings.ranker_model_name, registry.CHAMPION).version) == 1
    assert "verdict: proxy" in result.output and "true effect" in result.output


def test_the_gate_judged_the_challenger_with_the_off_policy_goal_rule(abtested):
    settings, _, _ = abtested
    log = ExplorationLog.load(exploration_dir(settings, 1))
    assert log.logging_version == 1 and log.logged.n_sessions == len(log.requests) > 0
    assert (log.logged.shown_marginal.sum(axis=1) > 0).all()
    registry.configure(settings)
    tags = mlflow.MlflowClient().get_model_version(settings.ranker_model_name, "2").tags
    # Applied with an estimate (ok or FAILED), not "not applied": the exploration log was found.
    assert tags["gate_offpolicy_goal"].split(":")[0] in {"ok", "FAILED"}
    assert "predicted timespent/slate" in tags["gate_offpolicy_goal"]


def test_the_log_carries_scores_and_its_slates_match_the_worlds_expectation(abtested):
    settings, _, _ = abtested
    log = ExplorationLog.load(exploration_dir(settings, 1))
    assert (log.support["score"] > 0).all() and log.logged.support_score is not None
    # The slates the logger showed, valued exactly by the world, against what users spent on them.
    shown = np.full((len(log.requests), 10), -1, dtype=np.int64)
    shown[log.shown["session"], log.shown["position"] - 1] = log.shown["item"]
    exact = true_slate_values(World.load(settings.world_dir), log, shown)["timespent"]
    realised = np.bincount(log.shown["session"], weights=log.shown["timespent"], minlength=len(log.requests))
    standard_error = realised.std(ddof=1) / np.sqrt(realised.size)
    assert abs(realised.mean() - exact) <= 4 * standard_error, (realised.mean(), exact, standard_error)


def test_both_arms_land_their_slates_like_production(abtested):
    settings, world, _ = abtested
    first = world.start + timedelta(days=DAYS)
    landed = pd.concat(
        pd.read_parquet(path)
        for day in (first, first + timedelta(days=1))
        for path in served_files(settings.served_dir, day)
    )
    impressions = landed[landed["event_type"] == "impression"]
    clicks = landed[landed["event_type"] == "click"]
    assert impressions["propensity"].between(0, 1, inclusive="right").all()
    versions = impressions["session_id"].str.extract(r"^srv-v(\d+)-")[0].astype(int)
    assert set(versions) == {1, 2}
    # Each user saw exactly the arm the hash assigned.
    users = impressions["user_id"].to_numpy()
    treated = in_treatment(users, 1, 0.5)
    assert ((versions.to_numpy() == 2) == treated).all()
    assert len(clicks) > 0 and (clicks["timespent_s"] > 0).all()
    assert set(clicks["session_id"]) <= set(impressions["session_id"])  # outcomes under the served session
    shown = set(zip(impressions["user_id"], impressions["item_id"], strict=True))
    assert set(zip(clicks["user_id"], clicks["item_id"], strict=True)) <= shown


def test_the_report_has_effects_truth_and_records(abtested):
    settings, world, _ = abtested
    (directory,) = (settings.root / "experiments").glob("abtest-v1-v2-seed1")
    import json

    report = json.loads((directory / "result.json").read_text())
    arms = report["arms"]
    assert arms[CONTROL]["version"] == 1 and arms[TREATMENT]["version"] == 2
    assert arms[CONTROL]["users"] + arms[TREATMENT]["users"] == world.n_users
    for name, effect in report["effects"].items():
        assert effect["ci_low"] <= effect["diff"] <= effect["ci_high"], name
        assert effect["verdict"] in {"win", "loss", "no difference"}
    truth = report["truth"]
    assert truth["goal_control"] > 0 and truth["goal_treatment"] > 0
    assert np.isfinite(truth["goal_relative"]) and truth["goal_verdict"] in {"win", "loss", "no difference"}
    # MLflow: one run with both versions, and a pointer to it on each registered version.
    registry.configure(settings)
    run = mlflow.get_run(report["mlflow_run_id"])
    assert run.data.tags["control_version"] == "1" and run.data.tags["treatment_version"] == "2"
    assert "effect_goal_per_user" in run.data.metrics
    client = mlflow.MlflowClient()
    for version in ("1", "2"):
        tags = client.get_model_version(settings.ranker_model_name, version).tags
        assert any(key.startswith("abtest/") for key in tags)
    # Dagster: the test ran as the abtest job on the project's instance, so the UI lists it.
    runs = dagster_instance(settings).get_runs(dg.RunsFilter(job_name=ABTEST_JOB))
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
