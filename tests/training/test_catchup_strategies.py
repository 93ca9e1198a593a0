"""Catch-up: weight transfer, distillation, compute accounting, side-feature warm starts, and
every strategy end to end on a tiny synthetic click log."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from training.catchup import architectures
from training.catchup.architectures import ARCHITECTURES, build_model
from training.catchup.compute import (
    Compute,
    cpu_seconds,
    forward_flops_per_position,
    inference_flops,
    training_flops,
)
from training.catchup.distill import Distillation, windows_by_recency
from training.catchup.strategies import STRATEGIES, CatchupConfig, catch_up
from training.catchup.transfer import transfer_weights, transferred_tensors
from training.sasrec.data import Vocabulary, split_last_item, training_windows, user_sequences
from training.sasrec.model import SASRec, SASRecConfig
from training.sasrec.side_features import category_indices, category_map
from training.sasrec.train import SASRecTrainConfig
from training.sasrec.warm import grow_vocabulary

TINY = SASRecTrainConfig(
    max_len=6, dim=8, n_blocks=1, n_heads=2, dropout=0.1, attn_dropout=0.1, ffn_mult=2, epochs=2, batch_size=16,
    warmup_steps=2, patience=5,
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")


def _day(day: int, hour: int = 0) -> pd.Timestamp:
    return pd.Timestamp("2026-03-01", tz="UTC") + pd.Timedelta(days=day, hours=hour)


def _plain(n_items: int, seed: int = 0, **overrides) -> SASRec:
    torch.manual_seed(seed)
    return SASRec(replace(TINY.model_config(n_items), **overrides)).eval()


# --- weight transfer ----------------------------------------------------------------------------


def test_transfer_reproduces_the_incumbent_on_known_items():
    incumbent_vocabulary = Vocabulary.from_items(np.array([10, 20, 30, 40]))
    incumbent = _plain(len(incumbent_vocabulary), seed=3)
    vocabulary = Vocabulary.from_items(np.array([5, 10, 20, 30, 40, 50]))  # 5 and 50 are new
    categories = {5: 0, 10: 1, 20: 0, 30: 2, 40: 1, 50: 2}
    arch = replace(ARCHITECTURES["sasrec_side"], train=TINY)

    challenger = transfer_weights(incumbent, incumbent_vocabulary, arch, vocabulary, categories, seed=1).eval()

    assert challenger.config.n_categories == 3 and challenger.config.prior_dim == TINY.dim
    histories_ids = np.array([[10, 20, 30, 40], [40, 30, 20, 10], [20, 20, 10, 30]])
    theirs = torch.as_tensor(incumbent_vocabulary.encode(histories_ids.ravel()).reshape(3, 4))
    ours = torch.as_tensor(vocabulary.encode(histories_ids.ravel()).reshape(3, 4))
    theirs[0, 0] = ours[0, 0] = 0  # a left-padded row too
    assert torch.allclose(challenger.user_vectors(ours), incumbent.user_vectors(theirs), atol=1e-6)

    known = torch.as_tensor(vocabulary.encode(incumbent_vocabulary.item_ids))
    with torch.no_grad():
        their_scores = incumbent.user_vectors(theirs) @ incumbent.item_vectors()[1:].T
        our_scores = challenger.user_vectors(ours) @ challenger.item_vectors()[known].T
    assert torch.allclose(our_scores, their_scores, atol=1e-6)

    unknown = torch.as_tensor(vocabulary.encode(np.array([5, 50])))
    assert torch.equal(challenger.item_prior[unknown], torch.zeros(2, TINY.dim))
    assert torch.equal(challenger.item_prior[0], torch.zeros(TINY.dim))
    # the category side feature is filled in (category + 1) but starts with zero vectors
    assert challenger.item_category.tolist() == [0, 1, 2, 1, 3, 2, 3]
    assert torch.equal(challenger.category_embedding.weight, torch.zeros_like(challenger.category_embedding.weight))

    expected = sorted(set(incumbent.state_dict()) - {"item_embedding.weight"})
    assert transferred_tensors(incumbent, challenger) == expected
    assert "position_embedding.weight" in expected and any(name.startswith("blocks.0.") for name in expected)
    for name in expected:
        assert torch.equal(challenger.state_dict()[name], incumbent.state_dict()[name])


def test_transfer_from_a_previous_side_feature_challenger_keeps_its_function():
    """A second catch-up: the incumbent is itself a ``sasrec_side`` model with a prior table."""
    arch = replace(ARCHITECTURES["sasrec_side"], train=TINY)
    old_vocabulary = Vocabulary.from_items(np.array([10, 20, 30]))
    incumbent = build_model(arch, old_vocabulary, {10: 0, 20: 1, 30: 1}, seed=2, prior_dim=TINY.dim).eval()
    with torch.no_grad():
        incumbent.item_prior[1:] = torch.randn(3, TINY.dim)
    vocabulary = Vocabulary.from_items(np.array([10, 20, 30, 40]))
    challenger = transfer_weights(incumbent, old_vocabulary, arch, vocabulary, {10: 0, 20: 1, 30: 1, 40: 0}).eval()
    sequences = torch.tensor([[0, 1, 2, 3, 3, 1]])  # items 10 20 30 30 10: the same indices in both vocabularies
    assert torch.allclose(challenger.user_vectors(sequences), incumbent.user_vectors(sequences), atol=1e-6)
    assert torch.allclose(challenger.item_vectors()[1:4], incumbent.item_vectors()[1:], atol=1e-6)
    assert challenger.item_category.tolist() == [0, 1, 2, 2, 1]
    assert "blocks.0.mlp.0.weight" in transferred_tensors(incumbent, challenger)


def test_transfer_skips_tensors_of_another_width():
    incumbent = _plain(3, dim=4, n_heads=2)
    arch = replace(ARCHITECTURES["sasrec_side"], train=TINY)  # dim 8
    vocabulary = Vocabulary.from_items(np.array([1, 2, 3]))
    challenger = transfer_weights(incumbent, vocabulary, arch, vocabulary, {1: 0, 2: 0, 3: 0})
    assert transferred_tensors(incumbent, challenger) == []
    # the prior enters through [I | 0]: the first four coordinates are the incumbent's vectors
    vectors = challenger.item_vectors().detach()
    assert torch.allclose(vectors[:, :4], incumbent.item_vectors().detach(), atol=1e-7)
    assert torch.equal(vectors[:, 4:], torch.zeros(4, 4))


# --- distillation ---------------------------------------------------------------------------


def test_windows_by_recency_cuts_like_training_windows_and_flags_recent_ones():
    clicks = pd.DataFrame(
        {
            "user_id": [2, 1, 1, 1, 1, 2, 1, 2, 1],
            "item_id": [20, 10, 20, 30, 40, 30, 10, 10, 777],  # 777 is not in the vocabulary
            "ts": [_day(4), _day(1), _day(2), _day(3), _day(4), _day(2), _day(5), _day(5), _day(4, 1)],
        }
    )
    vocabulary = Vocabulary.from_items(np.array([10, 20, 30, 40]))
    windows, recent = windows_by_recency(clicks, vocabulary, max_len=2, cutoff=_day(4))
    # user 1: 10 20 30 40 (10 held out) -> newest first, stride 2; user 2: 30 20 (10 held out)
    assert windows.tolist() == [[2, 3, 4], [0, 1, 2], [0, 3, 2]]
    assert recent.tolist() == [True, False, True]
    expected = training_windows(split_last_item(user_sequences(clicks, vocabulary))[0], max_len=2)
    assert windows.tolist() == expected.tolist()


def test_windows_by_recency_without_transitions_is_empty():
    clicks = pd.DataFrame({"user_id": [1, 1], "item_id": [10, 20], "ts": [_day(1), _day(2)]})
    windows, recent = windows_by_recency(clicks, Vocabulary.from_items(np.array([10, 20])), 3, _day(0))
    assert windows.shape == (0, 4) and recent.shape == (0,)


WINDOWS = torch.tensor([[0, 0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6, 7], [0, 0, 0, 0, 7, 1, 3]])


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return WINDOWS[:, :-1], WINDOWS[:, 1:], torch.arange(len(WINDOWS))


def _student() -> tuple[SASRec, Vocabulary]:
    vocabulary = Vocabulary.from_items(np.arange(101, 108))
    return _plain(len(vocabulary), seed=0, dropout=0.0, attn_dropout=0.0), vocabulary


def test_distillation_with_only_hard_targets_is_the_models_cross_entropy():
    student, vocabulary = _student()
    teacher = _plain(len(vocabulary), seed=9)
    distill = Distillation(teacher, vocabulary, vocabulary, np.ones(len(WINDOWS)))
    inputs, targets, index = _batch()
    loss = distill(student, inputs, targets, index)
    assert torch.allclose(loss, student(inputs, targets)[1], atol=1e-6)
    assert distill.teacher_positions == 0 and distill.teacher_slots == 0  # the teacher never ran


def test_distillation_from_an_identical_teacher_is_zero():
    student, vocabulary = _student()
    distill = Distillation(copy.deepcopy(student), vocabulary, vocabulary, np.zeros(len(WINDOWS)), temperature=2.0)
    inputs, targets, index = _batch()
    loss = distill(student, inputs, targets, index)
    assert abs(loss.item()) < 1e-6
    assert distill.teacher_positions == int((targets > 0).sum()) == 5 + 6 + 3
    assert distill.teacher_slots == inputs.numel()


def test_distillation_mixes_hard_and_soft_terms_per_window():
    student, vocabulary = _student()
    teacher = _plain(len(vocabulary), seed=9, dropout=0.0, attn_dropout=0.0)
    weights = np.array([1.0, 0.25, 0.0])
    temperature = 2.0
    distill = Distillation(teacher, vocabulary, vocabulary, weights, temperature)
    inputs, targets, index = _batch()
    loss = distill(student, inputs, targets, index)

    terms = []
    with torch.no_grad():
        student_logits, _ = student(inputs)
        teacher_logits, _ = teacher(inputs)
    for row in range(len(WINDOWS)):
        for col in range(inputs.size(1)):
            if targets[row, col] == 0:
                continue
            hard = F.cross_entropy(student_logits[row, col], targets[row, col] - 1)
            p = torch.softmax(teacher_logits[row, col] / temperature, dim=0)
            log_q = torch.log_softmax(student_logits[row, col] / temperature, dim=0)
            kl = (p * (p.log() - log_q)).sum()
            terms.append(weights[row] * hard + (1 - weights[row]) * temperature**2 * kl)
    assert torch.allclose(loss, torch.stack(terms).mean().float(), atol=1e-5)
    assert distill.teacher_positions == 6 + 3  # only windows 1 and 2 have soft targets


def test_items_unknown_to_the_teacher_get_no_soft_mass():
    student, vocabulary = _student()  # items 101..107
    teacher_vocabulary = Vocabulary.from_items(np.array([101, 102, 103, 104, 105, 999]))  # no 106, 107
    teacher = _plain(len(teacher_vocabulary), seed=4)
    distill = Distillation(teacher, teacher_vocabulary, vocabulary, np.zeros(len(WINDOWS)))
    inputs, targets, index = _batch()

    log_probs = distill.teacher_log_probs(inputs, targets > 0)
    assert log_probs.shape == (14, 7)
    assert torch.isinf(log_probs[:, 5:]).all()  # student items 106 and 107
    assert torch.allclose(log_probs[:, :5].exp().sum(dim=1), torch.ones(14), atol=1e-5)

    student.train()
    loss = distill(student, inputs, targets, index)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0
    assert all(torch.isfinite(p.grad).all() for p in student.parameters() if p.grad is not None)


# --- compute --------------------------------------------------------------------------------


def test_forward_flops_per_position_by_hand():
    config = SASRecConfig(n_items=10, max_len=5, dim=4, n_blocks=2, n_heads=2, ffn_mult=2)
    # per block: 4*16 (qkv + proj) + 2*2*16 (ffn) + 2*5*4 (attention) = 168
    assert forward_flops_per_position(config) == 2.0 * (2 * 168 + 10 * 4) == 752.0
    assert inference_flops(config, 3) == 3 * 752.0
    # forward + backward: 3x; the logits (2 * 10 * 4 = 80) only at trained positions
    assert training_flops(config, positions=2) == 3.0 * 752.0 * 2
    assert training_flops(config, positions=2, slots=5) == 3.0 * ((752.0 - 80.0) * 5 + 80.0 * 2)


def test_compute_adds_and_compares():
    a = Compute(sequences=2, positions=10, cpu_s=1.5, flops=100.0)
    b = Compute(sequences=3, positions=5, cpu_s=0.5, flops=300.0)
    assert a + b == Compute(5, 15, 2.0, 400.0)
    assert a + Compute() == a
    assert a.fraction_of(b) == {"sequences": 2 / 3, "positions": 2.0, "cpu_s": 3.0, "flops": 1 / 3}
    shares = a.fraction_of(Compute(sequences=4))
    assert shares["sequences"] == 0.5 and all(math.isnan(shares[k]) for k in ("positions", "cpu_s", "flops"))
    assert a.as_dict() == {"sequences": 2, "positions": 10, "cpu_s": 1.5, "flops": 100.0}


def test_cpu_seconds_measures_the_block():
    with cpu_seconds() as spent:
        sum(i * i for i in range(200_000))
    assert spent[0] > 0


# --- side features and warm starts ----------------------------------------------------------


def test_category_map_and_indices():
    catalog = pd.DataFrame({"item_id": [10, 20, 30], "category": [0, 2, 7]})
    categories = category_map(catalog)
    assert categories == {10: 0, 20: 2, 30: 7}
    vocabulary = Vocabulary.from_items(np.array([10, 20, 30, 40]))
    # category + 1; 0 for padding, an unknown item (40) and a category outside the range (7)
    assert category_indices(vocabulary, categories, n_categories=3).tolist() == [0, 1, 3, 0, 0]
    with pytest.raises(ValueError, match="category"):
        category_map(pd.DataFrame({"item_id": [1]}))


def test_grow_vocabulary_keeps_side_features_of_old_items():
    old_vocabulary = Vocabulary.from_items(np.array([10, 20, 30]))
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(n_items=3, max_len=4, dim=8, n_blocks=1, n_heads=2, n_categories=3, prior_dim=4))
    with torch.no_grad():
        model.item_category.copy_(torch.tensor([0, 1, 2, 3]))  # 10 -> 0, 20 -> 1, 30 -> 2
        model.item_prior.copy_(torch.randn(4, 4))
        model.item_prior[0] = 0.0
    # the catalogue moved item 10 to category 2; new: 25 -> 2, 40 -> 0, 50 -> 9 (out of range), 99 unknown
    categories = {10: 2, 20: 1, 30: 2, 25: 2, 40: 0, 50: 9}

    grown, vocabulary = grow_vocabulary(model, old_vocabulary, np.array([25, 40, 50, 99]), categories=categories)

    assert vocabulary.item_ids.tolist() == [10, 20, 25, 30, 40, 50, 99]
    assert grown.config == replace(model.config, n_items=7)
    old_rows = torch.as_tensor(vocabulary.encode(old_vocabulary.item_ids))
    new_rows = torch.as_tensor(vocabulary.encode(np.array([25, 40, 50, 99])))
    assert torch.equal(grown.item_embedding.weight[old_rows], model.item_embedding.weight[1:])
    assert grown.item_category.tolist() == [0, 1, 2, 3, 3, 1, 0, 0]  # old items keep theirs
    assert torch.equal(grown.item_prior[old_rows], model.item_prior[1:])
    assert torch.equal(grown.item_prior[new_rows], torch.zeros(4, 4))
    assert torch.equal(grown.item_prior[0], torch.zeros(4))
    assert torch.equal(grown.item_embedding.weight[0], torch.zeros(8))
    for name in ("category_embedding.weight", "prior_projection.weight", "position_embedding.weight"):
        assert torch.equal(grown.state_dict()[name], model.state_dict()[name])

    without_map, _ = grow_vocabulary(model, old_vocabulary, np.array([25]))
    assert without_map.item_category.tolist() == [0, 1, 2, 0, 3]  # the new item has no category


def test_build_model_fills_categories_only_with_side_features():
    vocabulary = Vocabulary.from_items(np.array([10, 20]))
    side = build_model(replace(ARCHITECTURES["sasrec_side"], train=TINY), vocabulary, {10: 1, 20: 0})
    assert side.config.n_categories == 2 and side.item_category.tolist() == [0, 2, 1]
    plain = build_model(replace(ARCHITECTURES["sasrec"], train=TINY), vocabulary, {10: 1, 20: 0})
    assert plain.config.n_categories == 0 and not hasattr(plain, "item_category")


# --- catch_up end to end --------------------------------------------------------------------


@pytest.fixture
def tiny_architectures(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, arch in list(ARCHITECTURES.items()):
        monkeypatch.setitem(architectures.ARCHITECTURES, name, replace(arch, train=TINY))


def _clicks(n_users: int = 30, n_items: int = 20, days: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for user in range(n_users):
        for day in range(days):
            for _ in range(rng.integers(0, 2) + 1):
                rows.append((user, 100 + int(rng.integers(n_items)), _day(day, int(rng.integers(24)))))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])


def _teacher(clicks: pd.DataFrame) -> tuple[SASRec, Vocabulary]:
    early = clicks[clicks["ts"] < _day(7)]
    vocabulary = Vocabulary.from_items(early["item_id"].to_numpy()[:-5])
    return _plain(len(vocabulary), seed=5), vocabulary


CATEGORIES = {100 + i: i % 3 for i in range(20)} | {500: 1}  # 500: published, never clicked


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_catch_up_every_strategy(strategy: str, tiny_architectures: None):
    clicks = _clicks()
    config = CatchupConfig(strategy=strategy, recent_days=3, replay_days=6, transfer_epochs=1)
    result = catch_up(clicks, CATEGORIES, config, teacher=_teacher(clicks))

    assert result.vocabulary.item_ids.tolist() == sorted(CATEGORIES)  # every published item
    assert result.model.config.n_items == len(result.vocabulary) == 21
    assert result.model.config.n_categories == 3
    assert result.model.item_category[result.vocabulary.encode(np.array([500]))].tolist() == [2]
    assert result.compute.cpu_s > 0 and result.compute.flops > 0
    assert result.compute.sequences > 0 and result.compute.positions >= result.compute.sequences
    assert result.epochs == len(result.history) == (1 if strategy in ("transfer", "combined") else 2)
    assert 1 <= result.best_epoch <= result.epochs and "val_ndcg_at_10" in result.best_metrics
    expected_clicks = {"scratch": 30 * 10, "distill": 30 * 10, "recent": 30 * 3, "transfer": 30 * 3, "combined": 30 * 6}
    per_day = clicks.groupby(clicks["ts"].dt.floor("D")).size()
    assert result.training_clicks == int(per_day.iloc[10 - expected_clicks[strategy] // 30 :].sum())
    if strategy in ("distill", "combined"):
        assert result.teacher_positions > 0
    else:
        assert result.teacher_positions == 0
    if strategy in ("transfer", "combined"):
        assert result.model.config.prior_dim == TINY.dim
        assert "position_embedding.weight" in result.transferred
    else:
        assert result.model.config.prior_dim == 0 and result.transferred == ()
    with torch.no_grad():
        scores, _ = result.model(torch.tensor([[0, 0, 0, 1, 2, 3]]))
    assert scores.shape == (1, 6, 21) and torch.isfinite(scores).all()


def test_catch_up_plain_architecture_vocabulary_is_the_clicked_items(tiny_architectures: None):
    clicks = _clicks()
    result = catch_up(clicks, CATEGORIES, CatchupConfig(arch="sasrec", strategy="recent", recent_days=2))
    assert result.vocabulary.item_ids.tolist() == sorted(clicks["item_id"].unique())
    assert result.model.config.n_categories == 0


@pytest.mark.parametrize("strategy", ["distill", "transfer", "combined"])
def test_strategies_needing_a_teacher_refuse_without_one(strategy: str):
    config = CatchupConfig(strategy=strategy)
    assert config.needs_teacher
    with pytest.raises(ValueError, match="teacher"):
        catch_up(_clicks(n_users=2, days=2), CATEGORIES, config)


def test_catch_up_refuses_an_empty_history():
    with pytest.raises(ValueError, match="no clicks"):
        catch_up(_clicks().iloc[:0], CATEGORIES, CatchupConfig(strategy="scratch"))


def test_catchup_config_validates():
    assert not CatchupConfig(strategy="scratch").needs_teacher
    with pytest.raises(ValueError, match="strategy"):
        CatchupConfig(strategy="magic")
    with pytest.raises(ValueError, match="architecture"):
        CatchupConfig(arch="gpt5")
    with pytest.raises(ValueError, match="recent_days"):
        CatchupConfig(recent_days=30, replay_days=7)
    with pytest.raises(ValueError, match="replay_hard_weight"):
        CatchupConfig(replay_hard_weight=1.5)
