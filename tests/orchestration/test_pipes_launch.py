"""The launcher ``sasrec_model`` hands to the plain training run: the SASRec entrypoint as a
Dagster Pipes child, whose epochs and summary reach the asset's run."""

import json

import dagster as dg
import pytest

from orchestration.assets.embeddings import pipes_launcher
from tests.training.test_sasrec import _cyclic_clicks
from training.sasrec.checkpoint import load_checkpoint
from training.sasrec.train import SASRecTrainConfig, config_flags

pytestmark = pytest.mark.slow


def test_the_pipes_launcher_trains_in_a_child_process_and_reports_to_the_run(tmp_path):
    clicks, out = tmp_path / "clicks.parquet", tmp_path / "sasrec.pt"
    _cyclic_clicks(n_users=20).to_parquet(clicks)
    config = SASRecTrainConfig(max_len=8, dim=16, n_blocks=1, epochs=2, batch_size=16, warmup_steps=2)
    flags = ["--clicks", str(clicks), "--out", str(out), *config_flags(config)]

    @dg.asset
    def launched(context: dg.AssetExecutionContext) -> dg.Output[int]:
        pipes_launcher(context)(flags, 1)  # as sasrec_model: launch, then return its own output
        return dg.Output(json.loads(out.with_suffix(".json").read_text())["world_size"])

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([launched], instance=instance)
    assert result.success
    model, vocabulary, _ = load_checkpoint(out)
    assert len(vocabulary) == 8 and model.config.dim == 16
    assert result.output_for_node("launched") == 1
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(message.startswith("epoch 2: loss") for message in messages)  # the child's log, in the run's
