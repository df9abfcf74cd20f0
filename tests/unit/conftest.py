"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_torch_thread():
    """Training tests use one torch thread: the machines are shared, and results stay reproducible."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
