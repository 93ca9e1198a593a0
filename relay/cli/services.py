"""The profile's services: ``relay ui`` in the foreground, ``relay services up|down|status`` in
the background. Both go through ``core.processes``; the commands are in ``relay.services``."""

from __future__ import annotations

import typer

from relay.cli.console import console, load_settings


def ui(
    dagster_port: int = typer.Option(3000, help="Dagster webserver port."),
    mlflow_port: int = typer.Option(5000, help="MLflow UI port."),
) -> None:
    """Run the Dagster webserver + daemon and the MLflow UI on 127.0.0.1 until Ctrl-C or SIGTERM."""
    from core.processes import Supervisor
    from relay.services import start_ui, ui_log_dir

    settings = load_settings()
    logs = ui_log_dir(settings)
    with Supervisor(logs) as supervisor:
        start_ui(supervisor, settings, dagster_port=dagster_port, mlflow_port=mlflow_port)
        console.print(f"Dagster UI: http://127.0.0.1:{dagster_port}")
        console.print(f"MLflow UI:  http://127.0.0.1:{mlflow_port}")
        console.print("Ctrl-C (or SIGTERM) stops both.")
        exited = supervisor.wait()
    stopped = ", ".join(supervisor.stopped or []) or "nothing (all had exited)"
    cause = f"on {supervisor.signal}" if supervisor.signal else f"because {', '.join(exited)} exited"
    console.print(f"stopped {stopped} {cause}; logs in {logs}", soft_wrap=True)
    if exited:
        raise typer.Exit(1)


services_app = typer.Typer(
    help="Background services of the profile: the MLflow server, the Dagster webserver and daemon.",
    no_args_is_help=True,
)


@services_app.command("up")
def services_up(
    only: list[str] = typer.Option(None, "--only", help="mlflow, dagster-webserver or dagster-daemon (repeatable)."),
    dagster_port: int = typer.Option(3000, help="Dagster webserver port (MLflow: RELAY_MLFLOW_PORT)."),
) -> None:
    """Start the services in the background and wait until they answer (creates the production databases)."""
    from psycopg2 import Error as DatabaseError
    from rich.markup import escape

    from core.redact import redact
    from relay import services

    settings = load_settings()
    try:
        states = services.up(settings, only=only, dagster_port=dagster_port)
    except (ValueError, RuntimeError, TimeoutError, OSError, DatabaseError) as error:
        # psycopg2 echoes a malformed DSN, password included, in its message: never print it raw.
        console.print(f"[red]{type(error).__name__}: {escape(redact(str(error)))}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    for name, state in states.items():
        if state["running"]:
            console.print(f"{name:18} pid {state['pid']:<8} {state.get('url') or ''}  log {state['log']}")
    console.print("stop them with: relay services down")


@services_app.command("down")
def services_down(
    only: list[str] = typer.Option(None, "--only", help="Service to stop (repeatable); default: all."),
) -> None:
    """Stop the services that ``relay services up`` started."""
    from relay import services

    stopped = services.down(load_settings(), only=only)
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@services_app.command("status")
def services_status() -> None:
    """Which services run, with their pids, URLs and logs."""
    from relay import services

    for name, state in services.status(load_settings()).items():
        where = f"pid {state['pid']}  {state.get('url') or ''}" if state["running"] else "stopped"
        console.print(f"{name:18} {where}")
