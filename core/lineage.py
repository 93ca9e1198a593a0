"""Lineage of a registered model: the code commit and a sha256 of every artifact file."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.digest import sha256_file
from core.settings import REPO_ROOT


def git_commit() -> str:
    """The commit the code runs from (``unknown`` outside a git checkout), marked dirty if edited."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def artifact_digests(directory: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``directory``."""
    return {
        str(path.relative_to(directory)): sha256_file(path) for path in sorted(directory.rglob("*")) if path.is_file()
    }


def verify_digests(directory: Path, expected: dict[str, str]) -> list[str]:
    """The files whose bytes differ from ``expected`` (or are missing, or unexpected)."""
    actual = artifact_digests(directory)
    problems = [f"{name}: missing" for name in expected if name not in actual]
    problems += [
        f"{name}: sha256 {actual[name][:12]}… != recorded {digest[:12]}…"
        for name, digest in expected.items()
        if name in actual and actual[name] != digest
    ]
    problems += [f"{name}: not in the recorded lineage" for name in actual if name not in expected]
    return problems
