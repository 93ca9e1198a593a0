"""SASRec: masks, padding, learning a known pattern, as-of-day embeddings, checkpoints."""

import numpy as np
import pandas as pd
import pytest
import torch

from training.sasrec.checkpoint import load_checkpoint, save_checkpoint
from training.sasrec.data import Vocabulary, left_pad, training_windows, user_sequences
from training.sasrec.embed import user_embedding_table
from training.sasrec.model import SASRec, SASRecConfig
from training.sasrec.train import SASRecTrainConfig, top_k_items, train_sasrec
from training.sasrec.warm import grow_vocabulary


def _model(seed: int = 0) -> SASRec:
    torch.manual_seed(seed)
    return SASRec(SASRecConfig(n_items=20, max_len=6, dim=16, n_blocks=2, n_heads=2, dropout=0.0)).eval()


def test_attention_is_causal():
    model = _model()
    a = torch.tensor([[0, 3, 4, 5, 6, 7]])
    b = torch.tensor([[0, 3, 4, 5, 9, 1]])  # differs only after position 3
    with torch.no_grad():
        ha, hb = model.encode(a), model.encode(b)
    assert torch.allclose(ha[:, :4], hb[:, :4], atol=1e-6)
    assert not torch.allclose(ha[:, 4:], hb[:, 4:])


def test_left_padding_does_not_change_the_user_vector():
    model = _model()
    short = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[0, 0, 0, 3, 4, 5]])
    assert torch.allclose(model.user_vectors(short), model.user_vectors(padded), atol=1e-6)
    assert torch.isfinite(model.encode(torch.zeros(1, 6, dtype=torch.long))).all()  # all-padding row stays finite


def test_vocabulary_and_windows():
    vocab = Vocabulary.from_items(np.array([30, 10, 20, 10]))
    assert vocab.encode(np.array([10, 20, 30, 99])).tolist() == [1, 2, 3, 0]
    assert vocab.decode(np.array([3, 1])).tolist() == [30, 10]
    assert left_pad(np.array([1, 2, 3]), 5).tolist() == [0, 0, 1, 2, 3]
    windows = training_windows({1: np.arange(1, 8), 2: np.array([4])}, max_len=3)
    assert windows.tolist() == [[4, 5, 6, 7], [1, 2, 3, 4]]  # every transition once; [4] alone has none


def test_user_sequences_order_by_time_and_drop_unknown_items():
    clicks = pd.DataFrame(
        {"user_id": [1, 1, 2, 1], "item_id": [20, 10, 10, 99], "ts": pd.to_datetime([3, 1, 2, 4], unit="s", utc=True)}
    )
    sequences = user_sequences(clicks, Vocabulary.from_items(np.array([10, 20])))
    assert {u: s.tolist() for u, s in sequences.items()} == {1: [1, 2], 2: [1]}


def _cyclic_clicks(n_users: int = 60, length: int = 12, n_items: int = 8) -> pd.DataFrame:
    """Every user walks the catalogue in a cycle from a random start: the next item is certain."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(1, n_users + 1):
        start = rng.integers(n_items)
        for step in range(length):
            rows.append(
                (user, 100 + (start + step) % n_items, pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(hours=step))
            )
    return pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])


def test_training_learns_a_deterministic_sequence():
    clicks = _cyclic_clicks()
    config = SASRecTrainConfig(
        max_len=8,
        dim=32,
        n_blocks=1,
        n_heads=2,
        dropout=0.0,
        epochs=40,
        batch_size=32,
        lr=5e-3,
        warmup_steps=5,
        patience=40,
    )
    result = train_sasrec(clicks, config, progress=False)
    histories = [result.vocabulary.encode(100 + (np.arange(start, start + 3) % 8)) for start in range(8)]
    predicted = result.vocabulary.decode(top_k_items(result.model, histories, k=1)[:, 0])
    assert predicted.tolist() == [100 + (start + 3) % 8 for start in range(8)]


def test_as_of_day_embeddings_use_only_earlier_clicks():
    model = _model()
    vocabulary = Vocabulary.from_items(np.arange(1, 21))
    clicks = pd.DataFrame(
        {
            "user_id": [7, 7, 7],
            "item_id": [3, 4, 5],
            "ts": pd.to_datetime(["2026-01-05 10:00", "2026-01-05 12:00", "2026-01-07 09:00"], utc=True),
        }
    )
    table = user_embedding_table(model, vocabulary, clicks, version=4)
    assert table["event_timestamp"].tolist() == [
        pd.Timestamp("2026-01-06", tz="UTC"),
        pd.Timestamp("2026-01-08", tz="UTC"),
    ]
    assert table["embedding_version"].tolist() == [4, 4]
    assert [list(items) for items in table["recent_items"]] == [[3, 4], [3, 4, 5]]  # as known at each stamp
    expected = model.user_vectors(torch.as_tensor(left_pad(vocabulary.encode(np.array([3, 4])), 6)[None, :]))[0].numpy()
    np.testing.assert_allclose(table["user_embedding"].iloc[0], expected, atol=1e-6)


def test_checkpoint_round_trip_and_tamper_detection(tmp_path):
    model, vocabulary = _model(), Vocabulary.from_items(np.arange(1, 21))
    path = tmp_path / "model.pt"
    digest = save_checkpoint(path, model, vocabulary)
    loaded, loaded_vocab, _ = load_checkpoint(path)
    assert len(digest) == 64
    assert loaded_vocab.item_ids.tolist() == vocabulary.item_ids.tolist()
    sequence = torch.tensor([[0, 0, 1, 2, 3, 4]])
    assert torch.allclose(loaded.user_vectors(sequence), model.user_vectors(sequence))
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(ValueError, match="is corrupt"):
        load_checkpoint(path)


def test_growing_the_vocabulary_keeps_every_learned_vector():
    model, vocabulary = _model(), Vocabulary.from_items(np.arange(1, 21))
    grown, bigger = grow_vocabulary(model, vocabulary, np.array([5, 25, 30]))
    assert bigger.item_ids.tolist() == [*range(1, 21), 25, 30]
    assert grown.config.n_items == 22
    old = model.item_embedding.weight.detach()
    new = grown.item_embedding.weight.detach()
    assert torch.equal(new[bigger.encode(vocabulary.item_ids)], old[1:])  # same vector per known item
    for name, tensor in model.state_dict().items():
        if name != "item_embedding.weight":
            assert torch.equal(grown.state_dict()[name], tensor), name
    same, same_vocabulary = grow_vocabulary(model, vocabulary, np.array([3, 4]))
    assert same_vocabulary is vocabulary and torch.equal(same.item_embedding.weight, model.item_embedding.weight)


def test_warm_start_continues_from_the_given_model():
    clicks = _cyclic_clicks()
    config = SASRecTrainConfig(
        max_len=8, dim=32, n_blocks=1, dropout=0.0, epochs=30, batch_size=32, lr=5e-3, warmup_steps=5, patience=30
    )
    first = train_sasrec(clicks, config, progress=False)
    warm = train_sasrec(
        clicks,
        SASRecTrainConfig(**{**config.__dict__, "epochs": 1}),
        vocabulary=first.vocabulary,
        init=first.model,
        progress=False,
    )
    cold = train_sasrec(clicks, SASRecTrainConfig(**{**config.__dict__, "epochs": 1}), progress=False)
    assert warm.history[0]["train_loss"] < 0.6 * cold.history[0]["train_loss"]  # it starts from what was learned
