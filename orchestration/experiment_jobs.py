"""Dagster jobs of the experiment layer: train a named challenger, catch up with a new
architecture, and run an A/B test.

All launch from the UI with config, like the pipeline's jobs. The challenger job re-runs the
ranker on the last training cycle's inputs with another ``RankerConfig`` and judges it, without
the ``champion`` asset: a challenger is registered and gated, never promoted by this job. The
catch-up job is a whole training cycle whose SASRec is a new architecture trained by a catch-up
strategy from the champion's; it keeps ``champion``, because a new architecture is adopted the
way every cycle's candidate is: promoted if, and only if, the gate passes it.
"""

from dataclasses import asdict

import dagster as dg
import pandas as pd

from experiments.abtest import ABTestConfig, ABTestResult, run_abtest
from orchestration.resources import LakeResource
from training.catchup.run import CATCHUP_INIT, CatchupLaunch

CHALLENGER_JOB = "challenger"
RANKER_VARIANT_JOB = "ranker_variant"
CATCHUP_JOB = "catchup"
ABTEST_JOB = "abtest"

challenger_job = dg.define_asset_job(
    CHALLENGER_JOB,
    selection=dg.AssetSelection.assets("ranker_model", "holdout_evaluation"),
    description="Train a ranker variant on the last cycle's training set and judge it; never promotes.",
)

ranker_variant_job = dg.define_asset_job(
    RANKER_VARIANT_JOB,
    selection=dg.AssetSelection.assets("ranker_model"),
    description="Train and register a ranker variant on the last cycle's training set; no gate, no promotion.",
)


def catchup_run_config(launch: CatchupLaunch) -> dict:
    """``sasrec_model``'s config for a catch-up. Dagster replaces an op's config whole, so a run
    config naming ``sasrec_model`` must say ``init: catchup`` itself: this is that config."""
    return {"ops": {"sasrec_model": {"config": {"init": CATCHUP_INIT, **asdict(launch)}}}}


catchup_job = dg.define_asset_job(
    CATCHUP_JOB,
    selection=dg.AssetSelection.assets("training_window").downstream(),
    config=catchup_run_config(CatchupLaunch()),
    description="A training cycle whose SASRec is a new architecture trained by a catch-up strategy from the "
    "champion's (lineage in its metadata): embeddings backfilled, ranker retrained, gated, promoted if it passes.",
)


class ABTestSettings(dg.Config):
    """``relay abtest`` from the launchpad: the treatment version against the control (0: the champion)."""

    treatment: int
    control: int = 0
    days: int = 5
    share: float = 0.5
    seed: int = 0
    temperature: float = 0.0

    def to_config(self) -> ABTestConfig:
        return ABTestConfig(
            treatment=self.treatment,
            control=self.control or None,
            days=self.days,
            share=self.share,
            seed=self.seed,
            temperature=self.temperature,
        )


@dg.op(description="Serve both versions to hashed user arms in the simulated world; report effects and the truth.")
def simulated_abtest(context: dg.OpExecutionContext, config: ABTestSettings, lake: LakeResource) -> ABTestResult:
    result = run_abtest(lake.settings(), config.to_config(), progress=False, log=context.log.info)
    effects = pd.DataFrame.from_records([effect.as_dict() for effect in result.effects.values()])
    context.add_output_metadata(
        {
            "control_version": result.arms["control"].version,
            "treatment_version": result.arms["treatment"].version,
            "verdict_proxy": result.proxy_verdict,
            "verdict_goal": result.goal_verdict,
            "true_goal_relative": result.truth.goal_relative,
            "true_goal_verdict": result.truth.goal_verdict,
            "effects": dg.MetadataValue.md(effects.to_markdown(index=False, floatfmt=".4f")),
            "mlflow_run_id": result.mlflow_run_id or "",
            "result": dg.MetadataValue.path(f"{result.directory}/result.json"),
        }
    )
    return result


@dg.job(name=ABTEST_JOB, description="A/B test of a treatment ranker version against the champion, frozen models.")
def abtest_job() -> None:
    simulated_abtest()
