"""``relay abtest``: a frozen treatment against the champion in the simulated world."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from relay.cli.console import console, load_settings

if TYPE_CHECKING:
    from experiments.abtest import ABTestResult


def abtest(
    treatment: int = typer.Option(None, help="Treatment ranker version (registered, not necessarily promoted)."),
    treatment_config: str = typer.Option(
        None, help="Train the treatment first from a named variant (experiments/variants.py), e.g. clickbait."
    ),
    control: int = typer.Option(None, help="Control version (default: the champion)."),
    days: int = typer.Option(5, min=1, help="Simulated days after the world's history."),
    share: float = typer.Option(0.5, min=0.01, max=0.99, help="Share of users in the treatment arm."),
    seed: int = typer.Option(0, help="Salts the user split and the world's responses."),
) -> None:
    """Serve two frozen versions to hashed user arms through the real request path, for N
    simulated days; report proxy and goal effects with 95% CIs, and the true effect."""
    from experiments.abtest import ABTestConfig
    from orchestration.experiment_runner import run_abtest_job, train_challenger

    settings = load_settings()
    if (treatment is None) == (treatment_config is None):
        raise typer.BadParameter("give exactly one of --treatment VERSION or --treatment-config NAME")
    if treatment_config is not None:
        console.rule(f"training the {treatment_config!r} variant as a challenger (never promoted)")
        outcome = train_challenger(settings, treatment_config)
        treatment = outcome.candidate_version
        console.print(f"registered v{treatment}; the gate says: {outcome.gate} ({outcome.reason})", soft_wrap=True)
    console.rule(f"A/B test: v{treatment} against {'the champion' if control is None else f'v{control}'}")
    result = run_abtest_job(
        settings, ABTestConfig(treatment=treatment, control=control, days=days, share=share, seed=seed)
    )
    print_abtest(result)


def print_abtest(result: ABTestResult) -> None:
    arms = Table(title=f"A/B test {result.first_day}..{result.last_day}: per arm")
    columns = ("version", "configuration", "users", "active_users", "ctr", "clicks_per_user")
    columns += ("timespent_per_active_user", "goal_per_user", "retention")
    arms.add_column("arm")
    for column in columns:
        arms.add_column(column.replace("_", " "), justify="right")
    for name, arm in result.arms.items():
        values = [getattr(arm, c) for c in columns]
        arms.add_row(name, *(f"{v:.4f}" if isinstance(v, float) else str(v) for v in values))
    effects = Table(title="treatment − control (95% CI, user bootstrap)")
    for column in ("metric", "control", "treatment", "relative", "95% CI", "verdict"):
        effects.add_column(column, justify="left" if column in ("metric", "verdict") else "right")
    for effect in result.effects.values():
        effects.add_row(
            effect.metric,
            f"{effect.control:.4f}",
            f"{effect.treatment:.4f}",
            f"{effect.relative:+.2%}",
            f"[{effect.relative_ci_low:+.2%}, {effect.relative_ci_high:+.2%}]",
            effect.verdict,
        )
    console.print(arms)
    console.print(effects)
    truth = result.truth
    console.print(
        f"true effect ({truth.users} users, the world's expected values): proxy {truth.proxy_relative:+.2%} "
        f"({truth.proxy_verdict}), goal {truth.goal_relative:+.2%} ({truth.goal_verdict})",
        soft_wrap=True,
    )
    console.print(
        f"verdict: proxy {result.proxy_verdict}, goal {result.goal_verdict}; "
        f"MLflow run {result.mlflow_run_id}; {result.directory}/result.json",
        soft_wrap=True,
    )


TUNED_REQUESTS = 10_000  # about what promotion/policy.yaml's offpolicy_goal_margin was chosen with


def explore(
    days: int = typer.Option(3, min=1, help="Simulated days of exploration after the world's history."),
    temperature: float = typer.Option(1.0, min=0.01, help="Plackett-Luce temperature on the champion's score logits."),
    seed: int = typer.Option(0, help="Seeds the world's responses and the sampled slates."),
) -> None:
    """Let the champion explore in the simulated world and keep the log (with each request's
    candidate marginals) that the promotion gate's off-policy goal rule estimates from."""
    from experiments.offpolicy import explore_into

    settings = load_settings()
    log, directory = explore_into(settings, days, seed, temperature)
    logged = log.logged
    console.print(
        f"champion v{log.logging_version} explored {logged.n_sessions:,} requests "
        f"({len(log.shown):,} impressions, {int(logged.click.sum()):,} clicks); log in {directory}",
        soft_wrap=True,
    )
    console.print("the next `relay run` judges its challenger's predicted online goal from it", soft_wrap=True)
    if logged.n_sessions < TUNED_REQUESTS:
        console.print(
            f"[yellow]note:[/yellow] the gate's off-policy margin was tuned with ~{TUNED_REQUESTS:,} logged requests; "
            f"the CIs narrow as 1/sqrt(requests), so with {logged.n_sessions:,} they are about "
            f"{(TUNED_REQUESTS / logged.n_sessions) ** 0.5:.1f}x as wide and the gate refuses more challengers: "
            "explore for more days to judge closer ones",
            soft_wrap=True,
        )
