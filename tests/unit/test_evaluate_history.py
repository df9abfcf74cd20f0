"""HistoryBuffer must hand policies exactly what serving's WorkingMemory hands temporal models."""

import numpy as np

from aiworld.mobs.caches import WorkingMemory
from trainers.evaluate import HistoryBuffer


def _states(rng, E, M):
    return rng.random((E, M, 64), dtype=np.float32)


def test_zero_rows_and_oldest_first():
    buf = HistoryBuffer(2, 3)
    first = np.full((2, 3, 64), 0.1, np.float32)
    second = np.full((2, 3, 64), 0.2, np.float32)
    buf.push(first)
    h = buf.histories()
    assert h.shape == (2, 3, 10, 64)
    assert not h[:, :, :9].any() and (h[:, :, 9] == first).all()
    buf.push(second)
    h = buf.histories()
    assert not h[:, :, :8].any()
    assert (h[:, :, 8] == first).all() and (h[:, :, 9] == second).all()


def test_window_slides_past_ten_states():
    buf = HistoryBuffer(1, 1)
    for t in range(1, 14):
        buf.push(np.full((1, 1, 64), t / 100, np.float32))
    rows = buf.histories()[0, 0, :, 0]
    assert np.allclose(rows, np.arange(4, 14) / 100)  # last 10, oldest first


def test_matches_working_memory_including_reset():
    rng = np.random.default_rng(0)
    E, M = 3, 2
    buf = HistoryBuffer(E, M)
    memory = WorkingMemory()
    ids = np.arange(E * M).reshape(E, M)
    mask = np.ones((E, M), bool)
    for tick in range(23):
        states = _states(rng, E, M)
        if tick == 14:
            # arena 1's encounter ended: serving sees new monsters (new ids), the buffer resets the arena
            buf.reset(np.array([False, True, False]))
            ids[1] += 1000
        buf.push(states)
        expected = memory.update(ids.ravel(), states.reshape(E * M, 64))
        assert np.array_equal(buf.histories().reshape(E * M, 10, 64), expected)
        assert np.array_equal(buf.gather(mask), expected)
    # arena 1 has 9 states since its reset: one zero row left
    h = buf.histories()
    assert not h[1, :, 0].any() and h[1, :, 1:].all()
    assert h[0].all()


def test_gather_selects_row_major():
    rng = np.random.default_rng(1)
    buf = HistoryBuffer(2, 3)
    for _ in range(4):
        buf.push(_states(rng, 2, 3))
    mask = np.array([[True, False, True], [False, True, False]])
    assert np.array_equal(buf.gather(mask), buf.histories()[mask])
    assert buf.gather(np.zeros((2, 3), bool)).shape == (0, 10, 64)
