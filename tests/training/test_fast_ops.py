"""SASRec's CPU fast paths: chunked full-softmax loss, uniform-mask dropout, epoch batching."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from training.distributed import DistContext
from training.sasrec.fast_ops import Dropout, dropout, linear_cross_entropy
from training.sasrec.model import SASRec, SASRecConfig
from training.sasrec.train import compile_for_training, epoch_batches, trim_padding

pytestmark = pytest.mark.usefixtures("one_thread")


# --- linear_cross_entropy -------------------------------------------------------------------


def _problem(n: int, classes: int = 7, dim: int = 5, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, dim, dtype=torch.float64, generator=generator) * 3.0
    weight = torch.randn(classes, dim, dtype=torch.float64, generator=generator)
    targets = torch.randint(0, classes, (n,), generator=generator)
    return hidden, weight, targets


@pytest.mark.parametrize("chunk", [1, 3, 4, 11, 2048])
def test_linear_cross_entropy_matches_cross_entropy_value_and_gradients(chunk: int):
    hidden, weight, targets = _problem(11)
    h1, w1 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    h2, w2 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()

    ours = linear_cross_entropy(h1, w1, targets, chunk=chunk)
    reference = F.cross_entropy(h2 @ w2.T, targets)
    # a non-unit upstream gradient checks that backward scales by it
    (ours * 2.5).backward()
    (reference * 2.5).backward()

    assert ours.dtype == torch.float64
    assert torch.allclose(ours, reference, rtol=0, atol=1e-12)
    assert torch.allclose(h1.grad, h2.grad, rtol=0, atol=1e-12)
    assert torch.allclose(w1.grad, w2.grad, rtol=0, atol=1e-12)


def test_linear_cross_entropy_is_stable_for_huge_logits():
    hidden = torch.tensor([[1000.0, 0.0], [0.0, -1000.0]], dtype=torch.float64)
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    targets = torch.tensor([0, 2])
    ours = linear_cross_entropy(hidden, weight, targets, chunk=1)
    assert torch.isfinite(ours)
    assert torch.allclose(ours, F.cross_entropy(hidden @ weight.T, targets), atol=1e-9)


def test_linear_cross_entropy_of_no_rows_is_zero_with_zero_gradients():
    hidden = torch.zeros(0, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    loss = linear_cross_entropy(hidden, weight, torch.zeros(0, dtype=torch.long))
    loss.backward()
    assert loss.item() == 0.0  # not NaN, unlike F.cross_entropy's mean over nothing
    assert hidden.grad.shape == (0, 5)
    assert torch.equal(weight.grad, torch.zeros_like(weight))


def test_linear_cross_entropy_upcasts_bf16_to_fp32():
    hidden, weight, targets = _problem(6)
    with torch.autocast("cpu", torch.bfloat16):
        loss = linear_cross_entropy(hidden.bfloat16(), weight.bfloat16(), targets)
    assert loss.dtype == torch.float32
    reference = F.cross_entropy(hidden.bfloat16().float() @ weight.bfloat16().float().T, targets)
    assert torch.allclose(loss, reference.float(), atol=1e-5)


def test_model_loss_equals_cross_entropy_of_its_logits():
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(n_items=9, max_len=4, dim=8, n_blocks=1, n_heads=2, dropout=0.0)).eval()
    inputs = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    targets = torch.tensor([[0, 2, 3, 4], [5, 6, 7, 9]])  # padding target 0 is ignored
    logits, _ = model(inputs)
    _, loss = model(inputs, targets)
    real = targets > 0
    assert torch.allclose(loss, F.cross_entropy(logits[real], targets[real] - 1), atol=1e-6)


# --- dropout ------------------------------------------------------------------------------------


def test_dropout_identity_when_off():
    x = torch.randn(4, 6)
    assert dropout(x, 0.0, True) is x
    assert dropout(x, 0.7, False) is x
    module = Dropout(0.5).eval()
    assert module(x) is x
    assert torch.equal(dropout(x, 1.0, True), torch.zeros_like(x))


def test_dropout_keeps_about_one_minus_p_and_rescales():
    torch.manual_seed(0)
    p = 0.3
    x = torch.full((200, 500), 2.0)
    out = Dropout(p).train()(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01  # 100k draws: std ~0.0015
    assert torch.allclose(out[kept], torch.full_like(out[kept], 2.0 / (1 - p)))
    assert abs(out.mean().item() - 2.0) < 0.03  # unbiased in expectation


def test_dropout_gradient_flows_through_kept_entries_only():
    torch.manual_seed(1)
    x = torch.ones(50, 40, requires_grad=True)
    out = dropout(x, 0.5, True)
    out.sum().backward()
    assert torch.equal(x.grad, (out != 0).float() * 2.0)


# --- epoch_batches ----------------------------------------------------------------------------


def _flat(batches: list[torch.Tensor]) -> list[int]:
    return torch.cat(batches).tolist() if batches else []


def test_epoch_batches_single_process_covers_every_index_once():
    batches = epoch_batches(10, 3, torch.Generator().manual_seed(5), DistContext())
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(_flat(batches)) == list(range(10))
    assert all(b.dtype == torch.long for b in batches)


def test_epoch_batches_same_seed_same_batches_other_seed_other_order():
    one = epoch_batches(20, 4, torch.Generator().manual_seed(7), DistContext())
    two = epoch_batches(20, 4, torch.Generator().manual_seed(7), DistContext())
    other = epoch_batches(20, 4, torch.Generator().manual_seed(8), DistContext())
    assert [b.tolist() for b in one] == [b.tolist() for b in two]
    assert _flat(one) != _flat(other)


@pytest.mark.parametrize("n", [10, 11])
def test_epoch_batches_two_ranks_deal_like_distributed_sampler(n: int):
    ranks = [
        _flat(epoch_batches(n, 4, torch.Generator().manual_seed(3), DistContext(rank=r, world_size=2)))
        for r in range(2)
    ]
    # DistributedSampler seeds its generator with seed + epoch and pads by repeating the head
    for rank, ours in enumerate(ranks):
        sampler = DistributedSampler(range(n), num_replicas=2, rank=rank, shuffle=True, seed=3)
        sampler.set_epoch(0)
        assert ours == list(sampler)
    assert len(ranks[0]) == len(ranks[1]) == (n + 1) // 2  # same number of steps on every rank
    assert set(ranks[0]) | set(ranks[1]) == set(range(n))
    overlap = set(ranks[0]) & set(ranks[1])
    assert len(overlap) == (0 if n % 2 == 0 else 1)  # only the padding repeats an index
    assert len(set(ranks[0])) == len(ranks[0]) and len(set(ranks[1])) == len(ranks[1])


def test_epoch_batches_with_lengths_groups_similar_windows():
    lengths = torch.tensor([5, 1, 4, 2, 3, 5, 1, 4, 2, 3])
    batches = epoch_batches(10, 2, torch.Generator().manual_seed(0), DistContext(), lengths)
    assert sorted(_flat(batches)) == list(range(10))
    # 10 windows fit one bucket: sorted by length, each batch of two holds one length
    assert all(len(set(lengths[b].tolist())) == 1 for b in batches)
    again = epoch_batches(10, 2, torch.Generator().manual_seed(0), DistContext(), lengths)
    assert [b.tolist() for b in batches] == [b.tolist() for b in again]
    ranks = [
        _flat(epoch_batches(9, 2, torch.Generator().manual_seed(0), DistContext(r, r, 2), lengths[:9])) for r in (0, 1)
    ]
    assert len(ranks[0]) == len(ranks[1]) == 5 and set(ranks[0]) | set(ranks[1]) == set(range(9))


def test_trim_padding_drops_common_left_padding_without_changing_the_loss():
    batch = torch.tensor([[0, 0, 0, 1, 2, 3], [0, 0, 0, 0, 4, 5]])
    # one padded column stays: its target is item 1, trained on in the untrimmed batch too
    assert trim_padding(batch).tolist() == [[0, 1, 2, 3], [0, 0, 4, 5]]
    assert trim_padding(torch.tensor([[0, 0, 0, 7]])).tolist() == [[0, 7]]  # at least two columns
    assert trim_padding(torch.tensor([[1, 2, 3], [0, 4, 5]])).tolist() == [[1, 2, 3], [0, 4, 5]]  # nothing to drop
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(n_items=9, max_len=5, dim=8, n_blocks=1, n_heads=2, dropout=0.0)).eval()
    trimmed = trim_padding(batch)
    assert int((trimmed[:, 1:] > 0).sum()) == int((batch[:, 1:] > 0).sum())  # the same targets
    full_loss = model(batch[:, :-1], batch[:, 1:])[1]
    assert torch.allclose(model(trimmed[:, :-1], trimmed[:, 1:])[1], full_loss, atol=1e-6)


def test_compile_for_training_disabled_is_eager():
    model = torch.nn.Linear(2, 2)
    assert compile_for_training(model, False) == (model, "eager")


def test_compile_for_training_without_compiler_says_why(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr("training.sasrec.train.shutil.which", lambda _: None)
    model = torch.nn.Linear(2, 2)
    step, how = compile_for_training(model, True)
    assert step is model
    assert how.startswith("eager") and "compiler" in how
