"""``relay serve``: the recommendation API over the MLflow champion."""

from __future__ import annotations

import ipaddress
import os
import shutil

import typer

from relay.cli.console import load_settings

LOOPBACK = "127.0.0.1"


def exposure_warning(host: str) -> str | None:
    """The line to print when ``host`` is reachable from other machines: the API has no authentication."""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        if host == "localhost":
            return None
    return f"serving on {host}: the API has no authentication of its own; put an authenticating proxy in front"


def serve(
    host: str = typer.Option(LOOPBACK, help="Bind address (loopback by default; see infra/README.md, Threat model)."),
    port: int = 8000,
    workers: int = typer.Option(1, min=1, help="Worker processes (each loads the champion and polls its alias)."),
) -> None:
    """Serve recommendations from the MLflow champion (JSON logs on stderr, Prometheus at /metrics).

    Serving knobs come from RELAY_SERVING_* (see serving/options.py)."""
    import uvicorn

    if warning := exposure_warning(host):
        typer.echo(warning, err=True)
    settings = load_settings()
    if workers == 1:
        from serving.app import create_app

        uvicorn.run(create_app(settings, json_logs=True), host=host, port=port, access_log=False)
        return
    # The workers are fresh processes: they read the settings and the metrics folder from the environment.
    os.environ["RELAY_HOME"], os.environ["RELAY_PROFILE"] = str(settings.root), settings.profile
    metrics_dir = settings.root / "run" / f"prometheus-{port}"  # the workers' shared metric samples
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    for variable in ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR", "RELAY_SERVING_METRICS_DIR"):
        os.environ[variable] = str(metrics_dir)
    uvicorn.run(
        "serving.app:create_production_app", factory=True, host=host, port=port, workers=workers, access_log=False
    )
