"""The ``relay`` command line: simulate a world, run the demo, open the UIs, serve."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from core.settings import RelaySettings, get_settings, record_dataset

app = typer.Typer(help="Relay: orchestrated end-to-end MLOps for recommender systems.", no_args_is_help=True)
console = Console()


def _settings() -> RelaySettings:
    settings = get_settings()
    settings.ensure_dirs()
    return settings


@app.command()
def simulate(
    days: int = typer.Option(60, min=1, help="Number of daily partitions to land."),
    users: int = typer.Option(2_000, min=1),
    items: int = typer.Option(1_000, min=10),
    seed: int = typer.Option(7),
    start: str = typer.Option("2026-01-05", help="First day (UTC, YYYY-MM-DD)."),
    sessions_per_user_day: float = typer.Option(0.45, min=0.0),
) -> None:
    """Generate a seeded synthetic world and land one raw-log parquet file per day."""
    from simulator.simulate import simulate as run_simulation
    from simulator.world import WorldConfig

    settings = _settings()
    config = WorldConfig(
        n_users=users,
        n_items=items,
        n_days=days,
        seed=seed,
        start_date=start,
        sessions_per_user_day=sessions_per_user_day,
    )
    summary = run_simulation(config, settings.landing_dir, settings.world_dir)
    record_dataset(settings, summary.first_day, f"simulator:seed={seed}")
    console.print(
        f"[green]landed[/green] {summary.days} days {summary.first_day}..{summary.last_day}: "
        f"{summary.events:,} events ({summary.impressions:,} impressions, {summary.clicks:,} clicks, "
        f"CTR {summary.ctr:.2%}) in {settings.landing_dir}"
    )


def _metrics_table(frame) -> Table:
    table = Table(title="Holdout metrics (temporal holdout, full catalogue)")
    for column in ("candidate", "model", "ndcg@10", "recall@10", "hr@10", "users"):
        table.add_column(column, justify="left" if column in ("candidate", "model") else "right")
    for row in frame.itertuples(index=False):
        table.add_row(row.candidate, row.model, f"{row[2]:.4f}", f"{row[3]:.4f}", f"{row[4]:.4f}", str(row.users))
    return table


def _serve_once(settings: RelaySettings, user_ids: list[int]) -> list[dict]:
    """Start the API on a free loopback port, request recommendations over HTTP, stop it."""
    import httpx
    import uvicorn

    from serving.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the serving app did not start")
        time.sleep(0.1)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        responses = []
        for user_id in user_ids:
            response = httpx.get(f"http://127.0.0.1:{port}/recommend/{user_id}", params={"k": 10}, timeout=60)
            response.raise_for_status()
            responses.append(response.json())
        return responses
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@app.command()
def demo(
    fresh: bool = typer.Option(False, help="Delete the data directory first."),
    epochs: int = typer.Option(30, min=1, help="SASRec epochs (early stopping usually ends sooner)."),
) -> None:
    """Simulate a world, run the whole pipeline through Dagster, promote a champion, serve it."""
    settings = get_settings()
    if fresh and settings.root.exists():
        shutil.rmtree(settings.root)
    settings.ensure_dirs()
    from core.landing import landed_days

    started = time.perf_counter()
    if not landed_days(settings.landing_dir):
        console.rule("1/4 simulate a world")
        simulate(days=60, users=2_000, items=1_000, seed=7, start=settings.partitions_start, sessions_per_user_day=0.45)
    days = landed_days(settings.landing_dir)
    console.rule(f"2/4 Dagster: ingest + features for {days[0]}..{days[-1]}, then the training cycle")
    from orchestration.runner import run_cycle

    cycle = run_cycle(
        settings, days[0], days[-1], training_config={"ops": {"sasrec_model": {"config": {"epochs": epochs}}}}
    )
    console.rule("3/4 evaluation and promotion")
    console.print(_metrics_table(cycle.metrics))
    decision = cycle.decision
    console.print(f"[bold]{'PROMOTED' if decision['promote'] else 'KEPT CHAMPION'}[/bold]: {decision['reason']}")

    console.rule("4/4 serve a recommendation from the champion")
    from core import lake
    from core.events import most_active_user

    with lake.connect(settings) as con:
        active_user = most_active_user(con)
    for response in _serve_once(settings, [active_user, 10**9]):
        items = ", ".join(
            f"{item['item_id']}" + (f" ({item['score']:.3f})" if item["score"] is not None else "")
            for item in response["items"]
        )
        label = f"fallback={response['fallback']}" if response["fallback"] else f"{response['candidates']} candidates"
        console.print(
            f"GET /recommend/{response['user_id']}?k=10 -> model v{response['model_version']} "
            f"(embeddings v{response['embedding_version']}, {label}): {items}"
        )
    console.print(
        f"\n[green]demo finished in {time.perf_counter() - started:.0f}s[/green]; state is in {settings.root}"
    )
    console.print("Open the UIs:  [bold]make ui[/bold]  (Dagster http://127.0.0.1:3000, MLflow http://127.0.0.1:5000)")
    console.print("Serve the API: [bold].venv/bin/relay serve[/bold]  then  curl 127.0.0.1:8000/recommend/42?k=10")


@app.command("run")
def run_pipeline(
    first_day: str = typer.Option(None, help="First partition (default: first landed day)."),
    last_day: str = typer.Option(None, help="Last partition (default: last landed day)."),
    epochs: int = typer.Option(30, min=1, help="SASRec epochs (early stopping usually ends sooner)."),
) -> None:
    """Run the data job over a day range and then the training cycle, through Dagster."""
    from core.landing import landed_days
    from orchestration.runner import run_cycle

    settings = _settings()
    days = landed_days(settings.landing_dir)
    if not days:
        raise typer.BadParameter(f"no landing partitions in {settings.landing_dir}; run `relay simulate` first")
    training = {"ops": {"sasrec_model": {"config": {"epochs": epochs}}}}
    cycle = run_cycle(settings, first_day or days[0], last_day or days[-1], training_config=training)
    console.print(_metrics_table(cycle.metrics))
    console.print(cycle.decision["reason"])


@app.command()
def incident(
    kind: str = typer.Argument(None, help="Incident kind (see --list)."),
    day: str = typer.Option(None, "--date", help="Partition to corrupt (YYYY-MM-DD)."),
    seed: int = typer.Option(0, help="Seed of the rows the incident picks."),
    list_kinds: bool = typer.Option(False, "--list", help="List the incident kinds and exit."),
) -> None:
    """Corrupt one partition of the simulated world with a named data incident."""
    from simulator.incidents import INCIDENTS

    if list_kinds or kind is None:
        table = Table(title="Data incidents")
        table.add_column("kind")
        table.add_column("target")
        table.add_column("what happens")
        for item in INCIDENTS.values():
            table.add_row(item.name, item.target, item.description)
        console.print(table)
        return
    if day is None:
        raise typer.BadParameter("--date is required", param_hint="--date")
    from simulator.inject import inject_incident

    try:
        console.print(f"[red]injected[/red] {inject_incident(_settings(), kind, day, seed)}")
    except (KeyError, FileNotFoundError) as error:
        raise typer.BadParameter(str(error)) from error


@app.command()
def reland(day: str = typer.Argument(..., help="Partition to re-deliver (YYYY-MM-DD).")) -> None:
    """Re-deliver a clean copy of a simulated day (the producer fixed its feed)."""
    from simulator.inject import reland_day

    console.print(f"re-landed {reland_day(_settings(), day)} (the previous file is kept in landing/_superseded)")


@app.command()
def quality(day: str = typer.Argument(..., help="Partition (YYYY-MM-DD).")) -> None:
    """Print a partition's accounting, its status and every check's latest result."""
    from core import lake
    from quality.records import override_for

    settings = _settings()
    with lake.connect(settings) as con:
        status = con.execute("SELECT * FROM partition_status WHERE date = $day", {"day": day}).df()
        checks = con.execute(
            "SELECT asset, check_name, passed, blocking, column_name, description FROM checks "
            "WHERE date = $day ORDER BY asset, check_name",
            {"day": day},
        ).df()
    if status.empty:
        raise typer.BadParameter(f"partition {day} has not been ingested in {settings.root}")
    row = status.iloc[0]
    balanced = row.rows_landed == row.rows_clean + row.rows_quarantined + row.duplicates_dropped
    console.print(
        f"[bold]{day}[/bold]: landed {row.rows_landed:,} = clean {row.rows_clean:,} + quarantined "
        f"{row.rows_quarantined:,} + duplicates {row.duplicates_dropped:,} "
        f"({'[green]balanced[/green]' if balanced else '[red]DOES NOT BALANCE[/red]'})",
        soft_wrap=True,
    )
    state = "[green]usable[/green]" if row.usable else "[red]BLOCKED[/red]"
    console.print(f"status: {state}" + (f" (override: {override_for(settings, day)})" if row.overridden else ""))
    if row.reason:
        console.print(f"contract: {row.reason}", soft_wrap=True)
    table = Table(title=f"checks on {day}")
    for column in ("asset", "check", "result", "column"):
        table.add_column(column, no_wrap=True)
    table.add_column("what it saw", overflow="fold")
    for check in checks.itertuples(index=False):
        mark = "[green]pass[/green]" if check.passed else "[red]FAIL[/red]" + (" (blocking)" if check.blocking else "")
        table.add_row(check.asset, check.check_name, mark, check.column_name, check.description)
    console.print(table)


@app.command()
def repair(
    day: str = typer.Argument(..., help="Partition to re-materialize (YYYY-MM-DD)."),
    accept: bool = typer.Option(False, help="Accept the partition's failing rows/checks explicitly."),
    reason: str = typer.Option("", help="Why the partition is accepted (required with --accept)."),
    by: str = typer.Option("", help="Who accepts it (required with --accept)."),
    retrain: bool = typer.Option(True, help="Run the training cycle afterwards."),
) -> None:
    """Re-materialize a partition and everything downstream of it, after a fix or an explicit override."""
    from orchestration.repair import repair_day
    from orchestration.runner import dagster_instance

    settings = _settings()
    if accept and not (reason.strip() and by.strip()):
        raise typer.BadParameter("--accept needs --reason and --by", param_hint="--accept")
    result = repair_day(
        settings, day, dagster_instance(settings), accept=(reason, by) if accept else None, retrain=retrain
    )
    if not result.repaired:
        for blocked_day, reasons in result.blocked.items():
            console.print(f"[red]{blocked_day} still blocked[/red]: " + " | ".join(reasons))
        raise typer.Exit(code=1)
    console.print(f"[green]{day} repaired[/green] in runs {', '.join(result.runs)}")
    if result.decision:
        console.print(result.decision["reason"])


import_app = typer.Typer(help="Import a real interaction log as daily raw-log partitions.", no_args_is_help=True)
app.add_typer(import_app, name="import")


def _report_import(converted, settings: RelaySettings) -> None:
    console.print(
        f"[green]imported[/green] {converted.interactions:,} interactions as {len(converted.days)} daily partitions "
        f"{converted.first_day}..{converted.last_day} into {settings.landing_dir} "
        f"(partitions now start {converted.first_day}); next: [bold]relay run[/bold]"
    )


@import_app.command("movielens-100k")
def import_movielens_100k(
    negatives: int = typer.Option(4, min=0, help="Unclicked impressions sampled per interaction (0: clicks only)."),
    seed: int = typer.Option(0),
) -> None:
    """MovieLens-100K, carried by the RecBole 1.2.1 wheel (pip download --no-deps; never installed)."""
    from ingest.importers.run import import_movielens

    settings = _settings()
    _report_import(import_movielens(settings, negatives=negatives, seed=seed), settings)


@import_app.command("csv")
def import_csv_file(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with one interaction per row."),
    user_col: str = typer.Option(..., help="Column with user ids (any type)."),
    item_col: str = typer.Option(..., help="Column with item ids (any type)."),
    ts_col: str = typer.Option(..., help="Column with timestamps (ISO text, or epoch numbers with --ts-unit)."),
    rating_col: str = typer.Option(None, help="Optional rating column (kept as engagement)."),
    category_col: str = typer.Option(None, help="Optional item category column."),
    ts_unit: str = typer.Option(None, help="Epoch unit of --ts-col: s, ms, us or ns."),
    negatives: int = typer.Option(4, min=0, help="Unclicked impressions sampled per interaction (0: clicks only)."),
    seed: int = typer.Option(0),
) -> None:
    """Any interaction log you bring."""
    from ingest.importers.run import import_csv

    settings = _settings()
    try:
        converted = import_csv(
            settings, path, user_col, item_col, ts_col, rating_col, category_col, ts_unit, negatives, seed
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    _report_import(converted, settings)


@app.command()
def report(version: int = typer.Option(None, help="Ranker version (default: the newest evaluated).")) -> None:
    """Print the promotion gate's verdict on a challenger: every guardrail and every metric with its CI."""
    from promotion.report import read_verdict

    settings = _settings()
    reports = settings.root / "reports"
    folders = sorted(reports.glob("ranker-v*"), key=lambda p: int(p.name.removeprefix("ranker-v")))
    if version is not None:
        folders = [f for f in folders if f.name == f"ranker-v{version}"]
    if not folders:
        raise typer.BadParameter(f"no promotion report{f' for v{version}' if version else ''} in {reports}")
    payload = read_verdict(folders[-1])
    verdict = payload["verdict"]
    header = " · ".join(f"{k}: {v}" for k, v in payload["header"].items())
    console.print(f"[bold]{'PROMOTABLE' if verdict['passed'] else 'REFUSED'}[/bold] — {header}", soft_wrap=True)
    rules = Table(title="guardrails")
    for column in ("rule", "result", "what it saw"):
        rules.add_column(column, overflow="fold")
    for rule in verdict["rules"]:
        rules.add_row(rule["rule"], "[green]ok[/green]" if rule["passed"] else "[red]FAILED[/red]", rule["message"])
    console.print(rules)
    metrics = Table(title="challenger vs champion (paired bootstrap 95% CI)")
    for column in ("metric", "challenger", "champion", "delta", "95% CI"):
        metrics.add_column(column, justify="left" if column == "metric" else "right")

    def number(value: object) -> str:
        return "" if value is None or value != value else f"{value:.4f}"

    for row in payload["comparison"]:
        ci = f"[{number(row['ci_low'])}, {number(row['ci_high'])}]" if row["ci_low"] is not None else ""
        metrics.add_row(row["metric"], number(row["challenger"]), number(row["champion"]), number(row["delta"]), ci)
    console.print(metrics)
    console.print(f"full report: {folders[-1] / 'report.html'}")


@app.command()
def rollback(reason: str = typer.Option("manual rollback", help="Why (recorded on the version).")) -> None:
    """Restore the previous champion (champion and previous swap)."""
    from promotion.promoter import rollback as swap
    from training import registry

    settings = _settings()
    registry.configure(settings)
    try:
        move = swap(settings, reason)
    except RuntimeError as error:
        raise typer.BadParameter(str(error)) from error
    console.print(
        f"champion is v{move.champion} again (previous: v{move.previous}); "
        "running servers swap to it within RELAY_SERVING_POLL_S seconds"
    )


def _restore_default_signals() -> None:
    # A shell that backgrounds us sets SIGINT to "ignore", and children inherit it; restore it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@app.command()
def ui(
    dagster_port: int = typer.Option(3000, help="Dagster webserver port."),
    mlflow_port: int = typer.Option(5000, help="MLflow UI port."),
) -> None:
    """Run the Dagster webserver + daemon and the MLflow UI on 127.0.0.1 until Ctrl-C or SIGTERM."""
    from orchestration.runner import prepare_dagster_home
    from relay.services import service_commands, service_env

    settings = _settings()
    prepare_dagster_home(settings)
    env = service_env(settings)
    commands = service_commands(settings, dagster_port=dagster_port, mlflow_port=mlflow_port)
    processes = {
        name: subprocess.Popen(command, env=env, preexec_fn=_restore_default_signals, start_new_session=True)
        for name, command in commands.items()
    }
    console.print(f"Dagster UI: http://127.0.0.1:{dagster_port}")
    console.print(f"MLflow UI:  http://127.0.0.1:{mlflow_port}")
    console.print("Ctrl-C (or SIGTERM) stops both.")

    stopping = threading.Event()

    def request_stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stopping.is_set():
        exited = [name for name, process in processes.items() if process.poll() is not None]
        if exited:
            console.print(f"[red]{', '.join(exited)} exited; stopping the rest[/red]")
            break
        stopping.wait(0.5)
    _stop_all(processes)


def _stop_all(processes: dict[str, subprocess.Popen], grace_s: float = 20.0) -> None:
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for name, process in processes.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            console.print(f"[yellow]{name} did not stop in {grace_s:.0f}s; killing it[/yellow]")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    console.print("stopped")


services_app = typer.Typer(
    help="Background services of the profile: the MLflow server, the Dagster webserver and daemon.",
    no_args_is_help=True,
)
app.add_typer(services_app, name="services")


@services_app.command("up")
def services_up(
    only: list[str] = typer.Option(None, "--only", help="mlflow, dagster-webserver or dagster-daemon (repeatable)."),
    dagster_port: int = typer.Option(3000, help="Dagster webserver port (MLflow: RELAY_MLFLOW_PORT)."),
) -> None:
    """Start the services in the background and wait until they answer (creates the production databases)."""
    from relay import services

    settings = _settings()
    try:
        states = services.up(settings, only=only, dagster_port=dagster_port)
    except (ValueError, RuntimeError, TimeoutError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error
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

    stopped = services.down(_settings(), only=only)
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@services_app.command("status")
def services_status() -> None:
    """Which services run, with their pids, URLs and logs."""
    from relay import services

    for name, state in services.status(_settings()).items():
        where = f"pid {state['pid']}  {state.get('url') or ''}" if state["running"] else "stopped"
        console.print(f"{name:18} {where}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = typer.Option(1, min=1, help="Worker processes (each loads the champion and polls its alias)."),
) -> None:
    """Serve recommendations from the MLflow champion (JSON logs on stderr, Prometheus at /metrics).

    Serving knobs come from RELAY_SERVING_* (see serving/options.py)."""
    import uvicorn

    settings = _settings()
    if workers == 1:
        from serving.app import create_app

        uvicorn.run(create_app(settings, json_logs=True), host=host, port=port, access_log=False)
        return
    os.environ["RELAY_HOME"], os.environ["RELAY_PROFILE"] = str(settings.root), settings.profile
    metrics_dir = settings.root / "run" / f"prometheus-{port}"  # the workers' shared metric samples
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    for variable in ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR", "RELAY_SERVING_METRICS_DIR"):
        os.environ[variable] = str(metrics_dir)
    uvicorn.run(
        "serving.app:create_production_app", factory=True, host=host, port=port, workers=workers, access_log=False
    )


if __name__ == "__main__":
    app()
