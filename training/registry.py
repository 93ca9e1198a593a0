"""MLflow tracking and the model registry: logging, registration, aliases, loading.

The one module of the product that calls MLflow, so a change of tracking backend or client
API touches one file. Aliases, not stages (deprecated): ``champion`` is what serving loads,
``previous`` the one it replaced. Registration is asynchronous, so every register call waits
for READY.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from core.digest import sha256_file
from core.lineage import artifact_digests, git_commit, verify_digests
from core.settings import RelaySettings
from training.ranker.bundle import META_FILE, TWO_STAGE, RankerBundle
from training.ranker.pyfunc import RankerPyfunc
from training.sasrec.checkpoint import load_checkpoint
from training.sasrec.data import Vocabulary
from training.sasrec.model import SASRec
from training.sasrec.pyfunc import SASRecPyfunc

CHAMPION = "champion"
DIGEST_TAG = "artifact_sha256/"
PREVIOUS = "previous"
# Explicit requirements: MLflow's inference costs ~19 s per log_model and guesses wrong.
PIP_REQUIREMENTS = ["torch==2.13.0", "lightgbm==4.7.0", "faiss-cpu==1.15.1", "pandas==2.3.3", "numpy==2.4.6"]


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: int
    run_id: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def configure(settings: RelaySettings) -> str:
    """Point MLflow at the profile's tracking store and the Relay experiment; returns its id."""
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    experiment = mlflow.get_experiment_by_name(settings.mlflow_experiment)
    if experiment is None:
        # Embedded: artifacts in the data directory. Production: the tracking server proxies them.
        location = settings.artifact_root.as_uri() if settings.profile == "embedded" else None
        experiment_id = mlflow.create_experiment(settings.mlflow_experiment, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


@contextmanager
def tracked_run(run_name: str | None = None, run_id: str | None = None) -> Iterator[str]:
    """A new tracking run (or ``run_id`` reopened) that the logging helpers below write into;
    yields its id and ends it on exit (as FAILED when the block raises)."""
    with mlflow.start_run(run_id=run_id, run_name=run_name) as run:
        yield run.info.run_id


def set_tags(tags: dict[str, object]) -> None:
    mlflow.set_tags(tags)


def log_params(params: dict[str, object]) -> None:
    mlflow.log_params(params)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    mlflow.log_metrics(metrics, step=step)


def log_artifact(path: Path, artifact_path: str | None = None) -> None:
    mlflow.log_artifact(str(path), artifact_path=artifact_path)


def log_artifacts(directory: Path, artifact_path: str | None = None) -> None:
    mlflow.log_artifacts(str(directory), artifact_path=artifact_path)


def wait_until_ready(name: str, version: int, timeout_s: float = 120.0) -> ModelVersion:
    client = MlflowClient()
    deadline = time.monotonic() + timeout_s
    while True:
        model_version = client.get_model_version(name, str(version))
        if model_version.status == "READY":
            return model_version
        if model_version.status == "FAILED_REGISTRATION":
            raise RuntimeError(f"registration of {name} v{version} failed: {model_version.status_message}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} v{version} still {model_version.status} after {timeout_s}s")
        time.sleep(0.2)


def log_sasrec(checkpoint: Path, registered_name: str) -> RegisteredModel:
    """Log the checkpoint as a pyfunc in the active run and register it, tagging the version with
    the checkpoint's sha256 so ``load_sasrec`` can refuse bytes that changed after registration."""
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_sasrec needs an active MLflow run")
    info = mlflow.pyfunc.log_model(
        name="sasrec",
        python_model=SASRecPyfunc(),
        artifacts={"checkpoint": str(checkpoint)},
        pip_requirements=PIP_REQUIREMENTS,
        registered_model_name=registered_name,
    )
    version = int(info.registered_model_version)
    wait_until_ready(registered_name, version)
    tag_version(registered_name, version, {f"{DIGEST_TAG}{checkpoint.name}": sha256_file(checkpoint)})
    return RegisteredModel(registered_name, version, run.info.run_id)


def log_ranker(
    bundle: RankerBundle, example: pd.DataFrame, registered_name: str, lineage: dict[str, object] | None = None
) -> RegisteredModel:
    """Log the bundle as a pyfunc with its feature signature in the active run and register it,
    tagging the version with its lineage and the sha256 of every artifact file."""
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_ranker needs an active MLflow run")
    with tempfile.TemporaryDirectory() as scratch:
        bundle_dir = bundle.save(Path(scratch) / "bundle")
        digests = artifact_digests(bundle_dir)
        features = example[bundle.features].astype("float64")
        info = mlflow.pyfunc.log_model(
            name="ranker",
            python_model=RankerPyfunc(),
            artifacts={"bundle": str(bundle_dir)},
            pip_requirements=PIP_REQUIREMENTS,
            signature=infer_signature(features, bundle.score(features)),
            registered_model_name=registered_name,
        )
    version = int(info.registered_model_version)
    wait_until_ready(registered_name, version)
    tags = {**(lineage or {}), "git_commit": git_commit(), **{f"{DIGEST_TAG}{name}": d for name, d in digests.items()}}
    tag_version(registered_name, version, tags)
    return RegisteredModel(registered_name, version, run.info.run_id)


class ArtifactTampered(RuntimeError):
    """A registered artifact's bytes differ from the sha256 recorded when it was registered."""


def _model_version(name: str, version: int | str) -> ModelVersion:
    """A registered version by number or ``@alias``."""
    client = MlflowClient()
    if str(version).startswith("@"):
        return client.get_model_version_by_alias(name, str(version)[1:])
    return client.get_model_version(name, str(version))


def recorded_digests(model_version: ModelVersion) -> dict[str, str]:
    """The sha256 of every artifact file, as tagged at registration. A version without them is
    refused: its bytes cannot be checked, so it is treated like a tampered one."""
    expected = {
        key[len(DIGEST_TAG) :]: value for key, value in model_version.tags.items() if key.startswith(DIGEST_TAG)
    }
    if not expected:
        raise ArtifactTampered(
            f"{model_version.name} v{model_version.version} has no recorded artifact digests; refusing to load it"
        )
    return expected


def verify_artifacts(model_version: ModelVersion, directory: Path, expected: dict[str, str]) -> None:
    """Raise ``ArtifactTampered`` naming every file whose bytes differ from the recorded sha256
    (or that is missing, or was added)."""
    problems = verify_digests(directory, expected)
    if problems:
        raise ArtifactTampered(
            f"{model_version.name} v{model_version.version} artifacts do not match their lineage: "
            + "; ".join(problems)
        )


def load_verified_ranker(name: str, version: int | str) -> tuple[RankerBundle, int]:
    """Download a ranker version (a number or ``@alias``), verify every file's sha256 against the
    version's lineage tags, then load it. Refuses tampered or unrecorded artifacts."""
    model_version = _model_version(name, version)
    expected = recorded_digests(model_version)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{model_version.version}"))
    bundle_dir = next(path.parent for path in local.rglob(META_FILE))
    verify_artifacts(model_version, bundle_dir, expected)
    return RankerBundle.load(bundle_dir), int(model_version.version)


def alias_version(name: str, alias: str) -> ModelVersion | None:
    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def set_alias(name: str, alias: str, version: int | str) -> None:
    MlflowClient().set_registered_model_alias(name, alias, str(version))


class AliasReader:
    """Reads one alias's version with a client made once: a poller that builds a client (and
    re-reads the tracking configuration) on every poll holds the GIL that live requests need."""

    def __init__(self, tracking_uri: str) -> None:
        self._client = MlflowClient(tracking_uri, tracking_uri)

    def version(self, name: str, alias: str) -> int | None:
        """The alias's version; None when the model or the alias does not exist yet."""
        try:
            return int(self._client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None


def promote(name: str, version: int) -> int | None:
    """Point ``champion`` at ``version`` and ``previous`` at the old champion; returns the old one."""
    current = alias_version(name, CHAMPION)
    if current is not None and int(current.version) != version:
        set_alias(name, PREVIOUS, current.version)
    set_alias(name, CHAMPION, version)
    return int(current.version) if current is not None else None


def load_ranker(name: str, version: int | str) -> RankerBundle:
    """Load a registered ranker bundle; ``version`` may be a number or ``@alias``. Verified like
    ``load_verified_ranker``: no path loads a ranker whose bytes changed after registration."""
    return load_verified_ranker(name, version)[0]


def load_sasrec(name: str, version: int) -> tuple[SASRec, Vocabulary]:
    """Download a SASRec version, verify its checkpoint against the sha256 tagged at registration,
    then load the weights only (never the pickled pyfunc wrapper)."""
    model_version = _model_version(name, version)
    expected = recorded_digests(model_version)
    path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{model_version.version}")
    checkpoint = next(Path(path).rglob("*.pt"))
    verify_artifacts(model_version, checkpoint.parent, expected)
    model, vocabulary, _ = load_checkpoint(checkpoint)
    return model, vocabulary


def champion_embedding_version(ranker_name: str) -> int | None:
    """The SASRec version the champion ranker reads, from its registry tag."""
    champion = alias_version(ranker_name, CHAMPION)
    if champion is None or "embedding_version" not in champion.tags:
        return None
    return int(champion.tags["embedding_version"])


CONFIGURATION_TAG = "configuration"  # which of the bundle's CONFIGURATIONS serves (set at promotion)


def version_configuration(name: str, version: int) -> str:
    """The configuration a version serves; versions promoted before there was a choice are two-stage."""
    tags = MlflowClient().get_model_version(name, str(version)).tags
    return tags.get(CONFIGURATION_TAG, TWO_STAGE)


def tag_version(name: str, version: int, tags: dict[str, object]) -> None:
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, str(value))


def latest_version(name: str) -> int | None:
    """The highest registered version of ``name`` (None when there is none)."""
    try:
        versions = MlflowClient().search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None
    return max((int(v.version) for v in versions), default=None)


def version_tags(name: str, version: int) -> dict[str, str]:
    return dict(MlflowClient().get_model_version(name, str(version)).tags)


def version_run_metrics(name: str, version: int) -> dict[str, float]:
    """The final metrics of the run that logged a registered version (empty when it has no run)."""
    run_id = MlflowClient().get_model_version(name, str(version)).run_id
    return dict(MlflowClient().get_run(run_id).data.metrics) if run_id else {}
