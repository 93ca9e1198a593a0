"""Save and load a trained SASRec with its vocabulary, atomically and with a checksum."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from core.digest import sha256_file
from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec, SASRecConfig


def save_checkpoint(path: Path, model: SASRec, vocabulary: Vocabulary, extra: dict | None = None) -> str:
    """Write to a temp file, then rename, so a crash never leaves a torn checkpoint. Returns sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(
        {
            "model_config": asdict(model.config),
            "state_dict": model.state_dict(),
            "item_ids": torch.as_tensor(vocabulary.item_ids),
            "extra": extra or {},
        },
        tmp,
    )
    os.replace(tmp, path)
    digest = sha256_file(path)
    path.with_name(path.name + ".sha256").write_text(digest + "\n")
    return digest


def load_checkpoint(path: Path) -> tuple[SASRec, Vocabulary, dict]:
    """Load a checkpoint, refusing one whose bytes do not match its recorded sha256."""
    checksum_file = path.with_name(path.name + ".sha256")
    if checksum_file.exists():
        expected, actual = checksum_file.read_text().strip(), sha256_file(path)
        if expected != actual:
            raise ValueError(f"checkpoint {path} is corrupt: sha256 {actual} != recorded {expected}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = SASRec(SASRecConfig(**payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    vocabulary = Vocabulary(np.asarray(payload["item_ids"].numpy(), dtype=np.int64))
    return model, vocabulary, payload.get("extra", {})


def parameters_sha256(model: SASRec) -> str:
    """Digest of the parameter values (names, shapes, bytes): equal digests, identical models."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_training_state(
    path: Path, model: SASRec, optimizer: torch.optim.Optimizer, vocabulary: Vocabulary, progress: dict
) -> str:
    """Everything needed to continue training after a crash, written atomically with a checksum."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(
        {
            "model_config": asdict(model.config),
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "item_ids": torch.as_tensor(vocabulary.item_ids),
            "progress": progress,
        },
        tmp,
    )
    digest = sha256_file(tmp)
    checksum = path.with_name(path.name + ".sha256")
    checksum_tmp = checksum.with_name(f".{checksum.name}.tmp")
    checksum_tmp.write_text(digest + "\n")
    os.replace(tmp, path)  # the state first, then its checksum: a crash in between fails verification
    os.replace(checksum_tmp, checksum)
    return digest


def load_training_state(path: Path, model: SASRec, optimizer: torch.optim.Optimizer) -> dict:
    """Restore model and optimizer in place; returns the saved progress. Refuses a torn file."""
    checksum = path.with_name(path.name + ".sha256")
    if not checksum.exists() or checksum.read_text().strip() != sha256_file(path):
        raise ValueError(f"training state {path} does not match its checksum; refusing to resume from it")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(payload["state_dict"])
    optimizer.load_state_dict(payload["optimizer"])
    return payload["progress"]
