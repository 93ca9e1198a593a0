"""The serialized promoter: concurrent promotions, rollback, and a tampered artifact refused."""

import subprocess
import sys
import textwrap

import pytest
from mlflow import MlflowClient

from promotion.outcome import GateOutcome, PromotionDecision
from promotion.promoter import PromotionRefused, promote, promote_challenger, rollback
from training import registry


@pytest.fixture
def versions(settings):
    """A registry with versions 1..3 of the ranker and v1 as champion (no artifacts needed)."""
    registry.configure(settings)
    client = MlflowClient()
    client.create_registered_model(settings.ranker_model_name)
    for _ in range(3):
        client.create_model_version(settings.ranker_model_name, source=str(settings.root))
    promote(settings, 1, "first")
    return settings


def test_two_concurrent_promotions_leave_one_champion_and_the_right_previous(versions):
    script = textwrap.dedent(
        """
        import sys, time
        from training import registry
        from core.settings import get_settings
        from promotion.promoter import promote
        settings = get_settings()
        registry.configure(settings)
        start = float(sys.argv[2])
        while time.time() < start:
            time.sleep(0.001)
        promote(settings, int(sys.argv[1]), "race")
        """
    )
    import time

    start = str(time.time() + 3.0)  # both processes leave the gate at the same instant
    racers = [subprocess.Popen([sys.executable, "-c", script, str(v), start]) for v in (2, 3)]
    assert [racer.wait(timeout=120) for racer in racers] == [0, 0]
    champion = int(registry.alias_version(versions.ranker_model_name, registry.CHAMPION).version)
    previous = int(registry.alias_version(versions.ranker_model_name, registry.PREVIOUS).version)
    assert champion in (2, 3)
    # Serialized: the second promotion saw the first one's champion, so v1 is not "previous" twice.
    assert previous == ({2, 3} - {champion}).pop()
    # The first promotion replaced v1; the second replaced the first's champion, not v1 again.
    assert MlflowClient().get_model_version(versions.ranker_model_name, str(previous)).tags["replaced"] == "1"
    assert MlflowClient().get_model_version(versions.ranker_model_name, str(champion)).tags["replaced"] == str(previous)


def test_rollback_restores_the_previous_champion(versions):
    promote(versions, 2, "better")
    move = rollback(versions, "bad canary")
    assert (move.champion, move.previous) == (1, 2)
    client = MlflowClient()
    assert int(client.get_model_version_by_alias(versions.ranker_model_name, "champion").version) == 1
    assert client.get_model_version(versions.ranker_model_name, "1").tags["promotion_reason"] == "bad canary"


def test_rollback_without_a_previous_champion_is_refused(settings):
    registry.configure(settings)
    MlflowClient().create_registered_model(settings.ranker_model_name)
    with pytest.raises(RuntimeError, match="no previous champion"):
        rollback(settings)


def _outcome(candidate: int, passed: bool, champion: int | None = 1) -> GateOutcome:
    reason = "every guardrail passed: ok" if passed else "refused by delta_ece: ECE 0.09 vs champion 0.02"
    return GateOutcome(
        candidate_version=candidate, candidate_run_id="r", champion_version=champion, passed=passed, reason=reason
    )


def test_a_passed_challenger_is_promoted_and_the_old_champion_becomes_previous(versions):
    decision = promote_challenger(versions, _outcome(2, passed=True))
    assert decision == PromotionDecision(
        promoted=True, candidate_version=2, reason=_outcome(2, True).reason, serving_version=2, previous_version=1
    )
    assert int(registry.alias_version(versions.ranker_model_name, registry.PREVIOUS).version) == 1


def test_a_refused_challenger_needs_an_override_and_the_override_is_recorded(versions):
    refused = _outcome(2, passed=False)
    with pytest.raises(PromotionRefused, match=r"challenger v2 refused by delta_ece.*override_reason and override_by"):
        promote_challenger(versions, refused, override_reason="  ", override_by="alice")
    assert int(registry.alias_version(versions.ranker_model_name, registry.CHAMPION).version) == 1

    decision = promote_challenger(versions, refused, override_reason="known ECE shift", override_by="alice")
    assert decision.promoted and decision.override and decision.serving_version == 2
    tags = MlflowClient().get_model_version(versions.ranker_model_name, "2").tags
    assert tags["override_reason"] == "known ECE shift" and tags["override_by"] == "alice"
    assert tags["promotion_reason"] == refused.reason


def test_a_verdict_against_a_champion_that_has_since_moved_is_stale(versions):
    promote(versions, 2, "meanwhile")
    with pytest.raises(PromotionRefused, match="champion moved to v2 after the evaluation compared against 1"):
        promote_challenger(versions, _outcome(3, passed=True, champion=1))
    assert int(registry.alias_version(versions.ranker_model_name, registry.CHAMPION).version) == 2
