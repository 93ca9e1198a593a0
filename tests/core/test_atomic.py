"""The one atomic-write helper: the target changes only when the write succeeds."""

from pathlib import Path

import pandas as pd
import pytest

from core.atomic import atomic_path, write_parquet


def test_write_parquet_replaces_the_target_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "day" / "part.parquet"
    write_parquet(pd.DataFrame({"a": [1, 2]}), target)
    write_parquet(pd.DataFrame({"a": [3]}), target)
    assert pd.read_parquet(target)["a"].tolist() == [3]
    assert [p.name for p in target.parent.iterdir()] == ["part.parquet"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "part.parquet"
    write_parquet(pd.DataFrame({"a": [1]}), target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("writer died")
    assert pd.read_parquet(target)["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["part.parquet"]
