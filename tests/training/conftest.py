"""Fixtures shared by the training tests."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Tiny tensors gain nothing from intra-op threads; on a busy shared machine the thread pool's
    waiting made each step ~50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
