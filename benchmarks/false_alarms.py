"""False alarms and catches of thresholds fitted out of sample, against the repository defaults.

    python benchmarks/false_alarms.py [--days 60] [--weeks 26] [--alarms-per-quarter 1]

MovieLens-100K is imported live into a temporary home (landed, ingested, thresholds fitted:
``relay import movielens-100k --live``), and a simulated world is landed and ingested. Over each
feed's last ``--days`` days every rule runs twice: with thresholds fitted only on the days before
(rolling, ``quality.calibrate.rolling_evaluation``) and with the repository defaults, every rule
on (the baseline). Then each landing incident kind of ``simulator.incidents`` is injected into
those same days (one kind per day, rotating), the corrupted day re-profiled as ingest would and
judged against the same reference by the same thresholds. A kind is caught on a day when the
contract rejects the day or a check fails that passed on the clean day; a kind is caught when it
is caught on every day it was injected. A kind that cannot be applied to a day (or changes
nothing in it) is n/a there, with the reason. Prints tables, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.landing import catalog_path, partition_path, read_partition
from core.settings import RelaySettings
from features.build import day_range
from ingest.importers.run import go_live, import_movielens
from ingest.partition import catalog_durations, ingest_days
from quality.all_rules import RULES
from quality.calibrate import Budget, DayEvaluation, Feed, evaluate_day, rolling_thresholds
from quality.calibrate_home import home_feed
from quality.calibration_targets import TARGETS, day_statistics
from quality.identity import event_ids_stored_elsewhere
from quality.profile import profile_partition
from quality.rule_result import Thresholds
from quality.thresholds import load_thresholds
from quality.validation import exact_duplicates, validate_partition
from simulator.incidents import INCIDENTS, apply_incident
from simulator.simulate import simulate
from simulator.world import WorldConfig

SIMULATED = WorldConfig(n_users=2_000, n_items=1_000, n_days=120, seed=7)
KINDS = sorted(name for name, incident in INCIDENTS.items() if incident.target == "landing")
# The check each kind is meant to be stopped by (tests/quality/test_incidents.py); shown for a miss.
INTENDED = {
    "constant_column": "constant_columns",
    "unit_change": "range_shift",
    "sentinel_values": "single_value_share",
    "duplicated_events": "duplicate_rate",
    "late_events": "late_events",
    "future_timestamps": "future_timestamps",
    "partial_partition": "partial_partition",
    "distribution_shift": "numeric_drift",
    "swapped_ids": "unknown_ids",
    "stale_item_dictionary": "item_popularity",
    "repeated_partition": "repeated_partition",
    "reused_event_ids": "reused_event_ids",
    "detached_clicks": "orphan_clicks",
    "clicks_clock_skew": "click_before_impression",
    "background_timespent": "overlong_timespent",
    "session_per_user": "long_sessions",
    "positions_beyond_slate": "slate_positions",
    "foreign_user_ids": "active_users",
    "rotated_user_ids": "user_activity",
    "crawler_traffic": "user_distribution",
}


@dataclass(frozen=True)
class Injection:
    day: str
    kind: str
    fitted: str  # caught | missed | n/a
    fitted_by: tuple[str, ...]
    default: str
    default_by: tuple[str, ...]
    detail: str  # for a miss: what the intended check saw; for n/a: why


def movielens_home(root: Path, reuse: bool = False) -> RelaySettings:
    """MovieLens-100K imported live: landed, ingested, thresholds fitted on its whole history."""
    settings = RelaySettings(home=root / "movielens")
    if reuse and settings.lake_dir.exists():
        return settings
    settings.ensure_dirs()
    converted = import_movielens(settings, live=True)
    go_live(settings, converted, "movielens-100k")
    return settings


def simulated_home(root: Path, reuse: bool = False) -> RelaySettings:
    settings = RelaySettings(home=root / "simulated")
    if reuse and settings.lake_dir.exists():
        return settings
    settings.ensure_dirs()
    summary = simulate(SIMULATED, settings.landing_dir, settings.world_dir, progress=False)
    ingest_days(settings, day_range(summary.first_day, summary.last_day))
    return settings


def every_rule_on(thresholds: Thresholds) -> Thresholds:
    return {name: {**section, "enabled": True} if name in RULES else section for name, section in thresholds.items()}


def corrupted_profile(settings: RelaySettings, day: str, kind: str, seed: int) -> tuple[dict | None, bool, str]:
    """(the profile ingest would store, whether the contract rejects the day, why n/a) for ``day``
    landed with ``kind``; the profile is None when the kind cannot be applied to the day."""
    incident = INCIDENTS[kind]
    landed = read_partition(settings.landing_dir, day)
    catalog = pd.read_parquet(catalog_path(settings.landing_dir)) if incident.needs_catalog else None
    earlier = None
    if incident.history_days:
        before = (date.fromisoformat(day) - timedelta(days=incident.history_days)).isoformat()
        if not partition_path(settings.landing_dir, before).exists():
            return None, False, f"no partition {before} to draw from"
        earlier = read_partition(settings.landing_dir, before)
    try:
        corrupted = apply_incident(kind, landed, seed, catalog, earlier)
    except ValueError as error:
        return None, False, str(error)
    if corrupted.equals(landed.reset_index(drop=True)):
        return None, False, "the incident changes nothing in this day's rows"
    verdict = validate_partition(corrupted, day)
    deduped = corrupted.loc[~exact_duplicates(corrupted)] if len(corrupted) else corrupted
    profile = profile_partition(corrupted, deduped, day, catalog_durations(settings))
    if "event_id" in deduped.columns:
        window = load_thresholds()["reference"]["window_days"]
        profile["stored_elsewhere"] = event_ids_stored_elsewhere(settings, day, deduped["event_id"], window)
    return profile, not verdict.accepted, ""


def _verdict(feed: Feed, day: str, profile: dict, rejected: bool, thresholds: Thresholds) -> tuple[str, tuple]:
    if rejected:
        return "caught", ("contract",)
    clean = set(evaluate_day(feed, day, feed.profiles[day], thresholds).alarms)
    new = tuple(rule for rule in evaluate_day(feed, day, profile, thresholds).alarms if rule not in clean)
    return ("caught" if new else "missed"), new


def _statistics(feed: Feed, day: str, profile: dict, thresholds: Thresholds) -> dict[str, float]:
    return day_statistics(profile, feed.reference(day, thresholds["reference"]["window_days"]), thresholds)


def invisible(feed: Feed, day: str, profile: dict, thresholds: Thresholds) -> bool:
    """Whether the corrupted day leaves every statistic a rule computes as it was: then no
    threshold could catch it there (the kind is structurally n/a on this day)."""
    return _statistics(feed, day, profile, thresholds) == _statistics(feed, day, feed.profiles[day], thresholds)


def miss_detail(feed: Feed, day: str, kind: str, profile: dict, thresholds: Thresholds) -> str:
    """What the check meant for ``kind`` saw: its statistic on the corrupted and the clean day
    against the threshold in force."""
    rule = INTENDED.get(kind)
    if rule is None:
        return ""
    now, clean = _statistics(feed, day, profile, thresholds), _statistics(feed, day, feed.profiles[day], thresholds)
    parts = [
        f"{target.key} {thresholds[rule][target.key]:g}, statistic {now[target.name]:.4g} "
        f"(clean day {clean.get(target.name, float('nan')):.4g})"
        for target in TARGETS
        if target.rule == rule and target.name in now
    ]
    if not parts:
        reference = feed.reference(day, thresholds["reference"]["window_days"])
        parts = [RULES[rule][0](profile, reference, thresholds).description.split(": ", 1)[-1]]
    return f"{rule}: " + "; ".join(parts)


def inject_each_kind(
    settings: RelaySettings, feed: Feed, days: list[str], fitted: dict[str, Thresholds], default: Thresholds
) -> list[Injection]:
    injections = []
    for index, day in enumerate(days):
        kind = KINDS[index % len(KINDS)]
        profile, rejected, why = corrupted_profile(settings, day, kind, seed=index)
        if profile is None:
            injections.append(Injection(day, kind, "n/a", (), "n/a", (), why))
            continue
        status, by = _verdict(feed, day, profile, rejected, fitted[day])
        default_status, default_by = _verdict(feed, day, profile, rejected, default)
        detail = ""
        if status == "missed" and invisible(feed, day, profile, fitted[day]):
            status = default_status = "n/a"
            detail = "the incident changes no statistic any rule computes on this day"
        elif status == "missed":
            detail = miss_detail(feed, day, kind, profile, fitted[day])
        injections.append(Injection(day, kind, status, by, default_status, default_by, detail))
    return injections


def evaluate_feed(name: str, settings: RelaySettings, days_back: int, budget: Budget) -> dict:
    """False alarms (fitted vs default) over the feed's last days, and catches of every kind."""
    started = time.perf_counter()
    feed = home_feed(settings)
    days = sorted(feed.profiles)[-days_back:]
    default = every_rule_on(load_thresholds())
    fitted = rolling_thresholds(feed, days, load_thresholds(), budget)
    clean: list[tuple[DayEvaluation, DayEvaluation]] = [
        (evaluate_day(feed, day, feed.profiles[day], fitted[day]), evaluate_day(feed, day, feed.profiles[day], default))
        for day in days
    ]
    injections = inject_each_kind(settings, feed, days, fitted, default)
    return {
        "name": name,
        "days": days,
        "fitted_alarms": Counter(rule for ours, _ in clean for rule in ours.alarms),
        "default_alarms": Counter(rule for _, theirs in clean for rule in theirs.alarms),
        "alarm_days": [(ours.day, ours.alarms) for ours, _ in clean if ours.alarms],
        "injections": injections,
        "seconds": time.perf_counter() - started,
    }


def kinds_summary(injections: list[Injection], field: str) -> tuple[int, int, list[str]]:
    """(kinds caught on every day they were injected, kinds injected at least once, kinds missed)."""
    by_kind: dict[str, list[str]] = {}
    for injection in injections:
        status = getattr(injection, field)
        if status != "n/a":
            by_kind.setdefault(injection.kind, []).append(status)
    missed = sorted(kind for kind, statuses in by_kind.items() if "missed" in statuses)
    return len(by_kind) - len(missed), len(by_kind), missed


def print_feed(result: dict) -> None:
    days = result["days"]
    print(f"\n== {result['name']}: {days[0]}..{days[-1]} ({len(days)} days, {result['seconds']:.0f} s)")
    fitted, default = result["fitted_alarms"], result["default_alarms"]
    print(f"false alarms, all rules: fitted {sum(fitted.values())}, defaults {sum(default.values())}")
    print(f"{'rule':26} {'fitted':>7} {'default':>8}")
    for rule in RULES:
        if fitted[rule] or default[rule]:
            print(f"{rule:26} {fitted[rule]:7d} {default[rule]:8d}")
    for day, alarms in result["alarm_days"]:
        print(f"  fitted false alarm on {day}: {', '.join(alarms)}")
    print(f"\n{'kind':24} {'day':10}  {'fitted':7} {'caught by':32} {'default':7} caught by (default)")
    for i in result["injections"]:
        print(
            f"{i.kind:24} {i.day:10}  {i.fitted:7} {','.join(i.fitted_by)[:32]:32} {i.default:7} "
            f"{','.join(i.default_by)[:40]}"
        )
        if i.detail:
            print(f"{'':36}{i.detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60, help="Evaluate each feed's last N days.")
    parser.add_argument("--weeks", type=int, default=26, help="Weeks of history each rolling fit reads.")
    parser.add_argument("--alarms-per-quarter", type=float, default=1.0)
    parser.add_argument("--keep", type=Path, default=None, help="Build the homes here and keep them.")
    parser.add_argument("--reuse", action="store_true", help="With --keep: reuse homes built by an earlier run.")
    args = parser.parse_args()
    budget = Budget(args.weeks, args.alarms_per_quarter)
    root = args.keep or Path(tempfile.mkdtemp(prefix="relay-false-alarms-"))
    try:
        results = {
            "movielens": evaluate_feed(
                "MovieLens-100K, imported --live", movielens_home(root, args.reuse), args.days, budget
            ),
            "sim": evaluate_feed(
                f"simulated world {SIMULATED.n_users}x{SIMULATED.n_items}",
                simulated_home(root, args.reuse),
                args.days,
                budget,
            ),
        }
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    for result in results.values():
        print_feed(result)
    figures: dict[str, object] = {}
    for key, result in results.items():
        caught, kinds, missed = kinds_summary(result["injections"], "fitted")
        figures |= {
            f"{key}_false_alarms": sum(result["fitted_alarms"].values()),
            f"{key}_caught": caught,
            f"{key}_kinds": kinds,
            f"{key}_missed": missed,
        }
    ml = results["movielens"]
    default_caught, _, _ = kinds_summary(ml["injections"], "default")
    figures |= {
        "default_movielens_false_alarms": sum(ml["default_alarms"].values()),
        "default_movielens_caught": default_caught,
        "default_sim_false_alarms": sum(results["sim"]["default_alarms"].values()),
        "movielens_na": sorted({f"{i.kind} on {i.day}: {i.detail}" for i in ml["injections"] if i.fitted == "n/a"}),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
