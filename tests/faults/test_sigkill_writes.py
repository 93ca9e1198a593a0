"""A writer killed with SIGKILL in the middle of a partition leaves no half-written file visible:
readers see the previous version or the new one, whole, and a rerun completes."""

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from core import lake
from core.landing import partition_path, superseded_dir, write_partition
from core.settings import RelaySettings

pytestmark = pytest.mark.faults

DAY = "2026-01-05"
SIZES = (150_000, 90_000)  # the two versions the writer alternates; any visible file has one of these sizes

WRITER = textwrap.dedent(
    f"""
    import sys
    import numpy as np, pandas as pd
    from core import lake
    from core.landing import write_partition
    from core.settings import RelaySettings

    settings = RelaySettings(home=sys.argv[1])
    frames = [pd.DataFrame({{"x": np.arange(n), "s": np.arange(n).astype(str)}}) for n in {SIZES}]
    print("ready", flush=True)
    i = 0
    while True:
        frame = frames[i % 2]
        lake.write_partition(lake.table_dir(settings, "events"), "{DAY}", frame)
        write_partition(settings.landing_dir, "{DAY}", frame)
        i += 1
    """
)


def _visible_rows(settings: RelaySettings) -> list[int]:
    """Row counts of every file a reader can see: the lake partition, the landing file, its superseded copies."""
    files = [
        lake.partition_dir(lake.table_dir(settings, "events"), DAY) / "part.parquet",
        partition_path(settings.landing_dir, DAY),
        *sorted(superseded_dir(settings.landing_dir).glob(f"{DAY}.*.parquet")),
    ]
    return [len(pd.read_parquet(path)) for path in files if path.exists()]


def test_sigkill_mid_write_leaves_only_whole_files_and_a_rerun_completes(tmp_path):
    settings = RelaySettings(home=tmp_path / "var")
    random.seed(7)
    kills = 0
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(settings.root)],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout.readline().strip() == "ready"
        time.sleep(random.uniform(0.2, 1.0))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        kills += child.returncode == -signal.SIGKILL
        rows = _visible_rows(settings)
        assert set(rows) <= set(SIZES), f"a half-written file is visible: {rows}"
    assert kills == 6
    # The rerun completes and readers of the lake see exactly its rows.
    frame = pd.DataFrame({"x": range(10), "s": [str(i) for i in range(10)]})
    lake.write_partition(lake.table_dir(settings, "events"), DAY, frame)
    write_partition(settings.landing_dir, DAY, frame)
    assert len(pd.read_parquet(partition_path(settings.landing_dir, DAY))) == 10
    assert len(pd.read_parquet(lake.partition_dir(lake.table_dir(settings, "events"), DAY) / "part.parquet")) == 10
    # Killed writers leave only dot-prefixed temporaries, which no reader's glob matches; that some
    # exist shows the kills landed mid-write (the writer's loop is almost all writing).
    leftovers = [p.name for p in settings.root.rglob("*.tmp")]
    assert leftovers and all(name.startswith(".") for name in leftovers)
