"""MovieLens-100K from the RecBole 1.2.1 wheel, which carries it as a package data file.

The wheel is only a carrier: ``pip download --no-deps`` fetches it into the data directory's
cache and nothing is installed. The ``.inter`` file is verified by sha256 before use.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

RECBOLE = "recbole==1.2.1"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{suffix}"
INTER_SHA256 = "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"


@dataclass(frozen=True)
class MovieLens:
    interactions: pd.DataFrame  # user_id, item_id, rating, timestamp (epoch s), file_order
    items: pd.DataFrame  # item_id, title, year, genres
    users: pd.DataFrame  # user_id, age, gender, occupation, zip_code


def fetch_wheel(cache_dir: Path) -> Path:
    """The RecBole wheel in ``cache_dir``, downloaded once with ``pip download --no-deps``."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    found = sorted(cache_dir.glob("recbole-1.2.1-*.whl"))
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", RECBOLE, "-d", str(cache_dir)]
    completed = subprocess.run(command, capture_output=True, text=True)
    found = sorted(cache_dir.glob("recbole-1.2.1-*.whl"))
    if completed.returncode != 0 or not found:
        raise RuntimeError(f"`pip download --no-deps {RECBOLE}` failed: {completed.stderr.strip()[-500:]}")
    return found[0]


def _read_member(wheel: Path, suffix: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(MEMBER.format(suffix=suffix))


def load(wheel: Path) -> MovieLens:
    inter = _read_member(wheel, "inter")
    digest = hashlib.sha256(inter).hexdigest()
    if digest != INTER_SHA256:
        raise ValueError(f"ml-100k.inter sha256 is {digest}, expected {INTER_SHA256}: refusing a modified file")
    interactions = _parse(inter)
    interactions["file_order"] = range(len(interactions))
    items = _parse(_read_member(wheel, "item")).rename(
        columns={"movie_title": "title", "release_year": "year", "class": "genres"}
    )
    users = _parse(_read_member(wheel, "user"))
    return MovieLens(interactions=interactions, items=items, users=users)


def _parse(raw: bytes) -> pd.DataFrame:
    from io import BytesIO

    frame = pd.read_csv(BytesIO(raw), sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [column.split(":")[0] for column in frame.columns]
    for column in ("user_id", "item_id"):
        if column in frame.columns:
            frame[column] = frame[column].astype("int64")
    for column in ("rating", "timestamp"):
        if column in frame.columns:
            frame[column] = frame[column].astype("float64")
    return frame
