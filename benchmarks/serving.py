"""Load test of the serving API, embedded and production profiles, against ``mlflow models serve``.

    python benchmarks/serving.py [--rate 100] [--requests 3000] [--workers 2] [--embedded-home var] [--quick]

Builds a simulated world, runs the pipeline through Dagster once per profile (the production one
on Postgres, Redis and an MLflow tracking server, in databases and a Feast project of its own,
removed afterwards), then for each server:

* an open-loop phase: ``--requests`` requests at ``--rate`` per second, bounded by
  ``--max-seconds``; latency is measured from each request's scheduled start, so a server that
  falls behind is charged for the queue (no coordinated omission);
* a closed-loop phase: ``--concurrency`` clients back to back for ``--throughput-seconds``,
  which gives the throughput.

Relay answers ``GET /recommend/{user}?k=10``: faiss retrieval of 200 candidates, Feast online
features, the ranker, calibration, business rules and the feedback log. The peer is the same
champion behind ``mlflow models serve``, sent the 200 candidates' ready-made feature rows, so
it only scores. The load generator runs on the same 2 cores over loopback. Prints a table, then
one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import aiohttp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import lake, processes
from core.databases import drop_databases
from core.landing import landed_days
from core.settings import RelaySettings, get_settings
from features.feast_store import open_store
from orchestration.runner import run_cycle
from relay import services
from serving.champion import champion_version, load_recommender
from serving.options import ServingOptions
from simulator.simulate import simulate
from simulator.world import WorldConfig
from training import registry

TARGET_P99_MS = 30.0
UNKNOWN_USER_SHARE = 0.05  # newcomers without an embedding take the fallback path


@dataclass
class Phase:
    latencies_ms: list[float]
    errors: int
    seconds: float
    lag_ms: float = 0.0  # the generator's worst delay in starting a request on schedule

    @property
    def sent(self) -> int:
        return len(self.latencies_ms) + self.errors

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        model = names[0] if names else model
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


# -- load generation ----------------------------------------------------------------------
async def open_loop(send, rate: float, n: int, max_seconds: float) -> Phase:
    """``n`` requests at ``rate``/s, each sent on schedule whatever the others are doing (so a slow
    server cannot slow the offered load down). Latency runs from the moment a request's task starts,
    waiting for a pooled connection included; how late the generator itself started tasks is kept
    as ``lag_ms`` (it shares the 2 cores with the server)."""
    loop = asyncio.get_running_loop()
    phase = Phase([], 0, 0.0)
    start = loop.time()
    tasks = []
    for index in range(n):
        scheduled = start + index / rate
        if scheduled - start > max_seconds:
            break
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        phase.lag_ms = max(phase.lag_ms, (loop.time() - scheduled) * 1000)
        tasks.append(asyncio.create_task(_timed(send, index, phase)))
    await asyncio.gather(*tasks)
    phase.seconds = loop.time() - start
    return phase


async def closed_loop(send, concurrency: int, seconds: float) -> Phase:
    loop = asyncio.get_running_loop()
    phase, sent = Phase([], 0, 0.0), iter(range(10**9))
    start = loop.time()

    async def worker() -> None:
        while loop.time() < start + seconds:
            await _timed(send, next(sent), phase)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.seconds = loop.time() - start
    return phase


async def _timed(send, index: int, phase: Phase) -> None:
    """One request: its latency (ms) if it succeeded, else an error."""
    since = asyncio.get_running_loop().time()
    try:
        ok = await send(index)
    except (aiohttp.ClientError, TimeoutError):
        ok = False
    if ok:
        phase.latencies_ms.append((asyncio.get_running_loop().time() - since) * 1000)
    else:
        phase.errors += 1


async def measure(make_send, args) -> tuple[Phase, Phase]:
    # aiohttp, not httpx: its client costs ~1 ms less per request, which is noise we'd otherwise measure.
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as client:
        send = make_send(client)
        for index in range(50):  # warm-up: caches, lazy imports, connection pool
            await send(index)
        steady = await open_loop(send, args.rate, args.requests, args.max_seconds)
        throughput = await closed_loop(send, args.concurrency, args.throughput_seconds)
    return steady, throughput


# -- worlds and servers -----------------------------------------------------------------
def build(settings: RelaySettings, world: WorldConfig, epochs: int) -> None:
    settings.ensure_dirs()
    simulate(world, settings.landing_dir, settings.world_dir, progress=False)
    days = landed_days(settings.landing_dir)
    cycle = run_cycle(settings, days[0], days[-1], {"ops": {"sasrec_model": {"config": {"epochs": epochs}}}})
    if not cycle.decision.promoted:
        raise RuntimeError(f"the first model was not promoted: {cycle.decision}")


def wait_ready(url: str, process: subprocess.Popen, timeout_s: float = 180.0) -> None:
    processes.wait_for(url, timeout_s, process)


def start_relay(settings: RelaySettings, port: int, log: Path, workers: int = 1) -> subprocess.Popen:
    env = {**services.service_env(settings), "RELAY_SERVING_LOG_IMPRESSIONS": "true"}
    relay = str(Path(sys.executable).with_name("relay"))
    process = processes.spawn([relay, "serve", "--port", str(port), "--workers", str(workers)], env, log)
    wait_ready(f"http://127.0.0.1:{port}/healthz", process)
    return process


def start_peer(settings: RelaySettings, port: int, log: Path, workers: int = 1) -> subprocess.Popen:
    bin_dir = str(Path(sys.executable).parent)  # mlflow execs `uvicorn` by name
    env = {**services.service_env(settings), "MLFLOW_TRACKING_URI": settings.tracking_uri}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    mlflow = str(Path(bin_dir) / "mlflow")
    command = [mlflow, "models", "serve", "-m", f"models:/{settings.ranker_model_name}@champion"]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    process = processes.spawn(command, env, log)
    wait_ready(f"http://127.0.0.1:{port}/ping", process)
    return process


def request_users(settings: RelaySettings, n: int, seed: int = 0) -> list[int]:
    with lake.connect(settings) as con:
        active = [row[0] for row in con.execute("SELECT DISTINCT user_id FROM accepted_events ORDER BY 1").fetchall()]
    rng = np.random.default_rng(seed)
    users = rng.choice(active, size=n).tolist()
    unknown = rng.uniform(size=n) < UNKNOWN_USER_SHARE
    return [10**9 + i if new else int(user) for i, (user, new) in enumerate(zip(users, unknown, strict=True))]


def peer_payloads(settings: RelaySettings, users: list[int], n: int) -> list[bytes]:
    """The 200 candidates' feature rows for ``n`` users, as ``mlflow models serve`` takes them."""
    registry.configure(settings)
    recommender = load_recommender(settings, champion_version(settings), ServingOptions(log_impressions=False))
    bundle, payloads = recommender.bundle, []
    for user in users:
        row = recommender.online.user(user)
        if row.vector is None:
            continue
        positions, _ = bundle.retrieve_positions(row.vector[None, :], 200)
        positions = positions[0]
        matrix = recommender.online.matrix(row, user, positions, bundle.item_categories[positions], recommender.clock())
        data = np.where(np.isnan(matrix), None, matrix).tolist()
        payloads.append(json.dumps({"dataframe_split": {"columns": bundle.features, "data": data}}).encode())
        if len(payloads) == n:
            break
    return payloads


def run_relay(settings: RelaySettings, users: list[int], args, label: str) -> tuple[Phase, Phase]:
    port = processes.free_port()
    process = start_relay(settings, port, settings.root / f"bench-serve-{label}.log", args.workers)
    try:

        def make_send(client: aiohttp.ClientSession):
            async def send(index: int) -> bool:
                user = users[index % len(users)]
                async with client.get(f"http://127.0.0.1:{port}/recommend/{user}?k=10") as response:
                    return response.status == 200 and len((await response.json())["items"]) == 10

            return send

        return asyncio.run(measure(make_send, args))
    finally:
        processes.stop_group(process.pid)
        process.wait()


def run_peer(settings: RelaySettings, payloads: list[bytes], args) -> tuple[Phase, Phase]:
    port = processes.free_port()
    process = start_peer(settings, port, settings.root / "bench-peer.log", args.workers)
    headers = {"content-type": "application/json"}
    try:

        def make_send(client: aiohttp.ClientSession):
            async def send(index: int) -> bool:
                body = payloads[index % len(payloads)]
                async with client.post(f"http://127.0.0.1:{port}/invocations", data=body, headers=headers) as response:
                    return response.status == 200 and len((await response.json())["predictions"]) == 200

            return send

        return asyncio.run(measure(make_send, args))
    finally:
        processes.stop_group(process.pid)
        process.wait()


def production_settings(base: RelaySettings, root: Path) -> RelaySettings:
    tag = uuid4().hex[:8]
    return RelaySettings(
        home=root / "production",
        profile="production",
        database_prefix=f"relay_bench_{tag}",
        feast_project=f"relay_bench_{tag}",
        mlflow_port=processes.free_port(),
        postgres_server=base.postgres_server,
        redis_url=base.redis_url,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop requests per second")
    parser.add_argument("--requests", type=int, default=3000, help="open-loop request count")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="open-loop time bound")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop clients")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (Relay and the peer alike)")
    parser.add_argument("--throughput-seconds", type=float, default=15.0)
    # The demo's world and training, whose first model the promotion gate accepts.
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60, help="at least 28 (7 SASRec + 14 ranker + 7 holdout)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--embedded-home", type=Path, help="serve this data directory's champion (e.g. var after make demo)"
    )
    parser.add_argument("--skip-production", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a small world and short phases (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.throughput_seconds = 300, 5.0

    base = get_settings()
    root = base.root / "bench" / f"serving-{time.strftime('%Y%m%dT%H%M%S')}"
    world = WorldConfig(n_users=args.users, n_items=args.items, n_days=args.days, seed=args.seed)
    rows: list[tuple[str, Phase, Phase]] = []
    if args.embedded_home:
        embedded = RelaySettings(home=args.embedded_home)
        if champion_version(embedded) is None:
            raise SystemExit(f"{embedded.root} has no champion; run make demo or drop --embedded-home")
        print(f"serving the champion in {embedded.root}", flush=True)
    else:
        embedded = RelaySettings(home=root / "embedded")
        print(f"building the world and the embedded champion in {embedded.root} ...", flush=True)
        build(embedded, world, args.epochs)
    users = request_users(embedded, 5000)
    rows.append(("relay (embedded)", *run_relay(embedded, users, args, "embedded")))
    payloads = peer_payloads(embedded, users, 200)
    rows.append(("peer: mlflow models serve", *run_peer(embedded, payloads, args)))

    if not args.skip_production:
        production = production_settings(base, root)
        print(f"building the production champion ({production.database_prefix}_*, Redis) ...", flush=True)
        services.up(production, only=["mlflow"])
        try:
            build(production, world, args.epochs)
            rows.append(("relay (production)", *run_relay(production, users, args, "production")))
        finally:
            open_store(production).teardown()
            services.down(production)
            drop_databases(production)

    print(
        f"\nmachine: {_machine()}; k=10 of 200 candidates; {args.workers} server workers; "
        f"open loop {args.rate:.0f} req/s x {args.requests}; closed loop {args.concurrency} clients"
    )
    header = (
        f"{'server':28} {'sent':>6} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max rps':>8} "
        f"{'gen lag ms':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, steady, throughput in rows:
        rps = len(throughput.latencies_ms) / throughput.seconds
        print(
            f"{name:28} {steady.sent:>6} {steady.errors + throughput.errors:>6} {steady.percentile(50):>8.2f} "
            f"{steady.percentile(95):>8.2f} {steady.percentile(99):>8.2f} {rps:>8.1f} {steady.lag_ms:>10.1f}"
        )
    figures = {name: (steady, throughput) for name, steady, throughput in rows}
    relay_steady, relay_throughput = figures["relay (embedded)"]
    peer_steady, peer_throughput = figures["peer: mlflow models serve"]
    result = {
        "p50_ms": round(relay_steady.percentile(50), 2),
        "p95_ms": round(relay_steady.percentile(95), 2),
        "p99_ms": round(relay_steady.percentile(99), 2),
        "rps": round(len(relay_throughput.latencies_ms) / relay_throughput.seconds, 1),
        "errors": sum(s.errors + t.errors for name, s, t in rows if name.startswith("relay")),
        "peer_p99_ms": round(peer_steady.percentile(99), 2),
        "peer_errors": peer_steady.errors + peer_throughput.errors,
        "peer_rps": round(len(peer_throughput.latencies_ms) / peer_throughput.seconds, 1),
        "rate": args.rate,
        "requests": relay_steady.sent,
    }
    if "relay (production)" in figures:
        steady, throughput = figures["relay (production)"]
        result["production_p99_ms"] = round(steady.percentile(99), 2)
        result["production_rps"] = round(len(throughput.latencies_ms) / throughput.seconds, 1)
    result["target_met"] = bool(
        result["p99_ms"] <= TARGET_P99_MS and result["errors"] == 0 and result["rps"] > result["peer_rps"]
    )
    shutil.rmtree(root / "production", ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
