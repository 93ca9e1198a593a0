"""SASRec training as a Dagster Pipes subprocess (plain or under torchrun).

    python -m orchestration.pipes_sasrec --clicks c.parquet --out m.pt [train flags]
    torchrun --nproc_per_node=N -m orchestration.pipes_sasrec ...

The launching asset sees each epoch in its run log. Only rank 0 talks to Dagster; the training
code itself (``training.sasrec.train``) knows nothing of it.
"""

import os
import sys

from training.sasrec.train import run


def main() -> None:
    if os.environ.get("RANK", "0") != "0":
        run(sys.argv[1:])
        return
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:

        def report(record: dict[str, float]) -> None:
            pipes.log.info(
                f"epoch {int(record['epoch'])}: loss {record['train_loss']:.4f}, "
                f"val NDCG@10 {record['val_ndcg_at_10']:.4f}, val HR@10 {record['val_hr_at_10']:.4f}"
            )

        summary = run(sys.argv[1:], on_epoch=report)
        pipes.report_custom_message({k: v for k, v in summary.items() if k != "history"})


if __name__ == "__main__":
    main()
