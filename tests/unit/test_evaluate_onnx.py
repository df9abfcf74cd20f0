"""onnx_policy: served ONNX files (state or history input, told apart by rank) as evaluation policies."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from aiworld.mobs.onnx_export import random_mlp
from trainers.evaluate import onnx_policy


def _save(model, path):
    onnx.save(model, path)
    return path


def _direct(path, name, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["action_logits"], {name: x})[0].argmax(axis=1)


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.random((64, 64), dtype=np.float32), rng.random((64, 10, 64), dtype=np.float32)


def test_state_model_reads_states(tmp_path, batch):
    states, histories = batch
    path = _save(random_mlp(1), tmp_path / "state.onnx")
    policy = onnx_policy(path)
    actions = policy(states, histories)
    assert actions.shape == (64,) and actions.min() >= 0 and actions.max() <= 9
    assert np.array_equal(actions, _direct(path, "state", states))
    assert len(set(actions.tolist())) > 1  # a real argmax, not a constant
    # the histories do not matter to a state model
    assert np.array_equal(policy(states, np.zeros_like(histories)), actions)


def test_history_model_reads_histories(tmp_path, batch):
    states, histories = batch
    path = _save(random_mlp(2, temporal=True), tmp_path / "history.onnx")
    policy = onnx_policy(path, threads=1)
    actions = policy(states, histories)
    assert np.array_equal(actions, _direct(path, "history", histories))
    assert np.array_equal(policy(np.zeros_like(states), histories), actions)
    assert len(policy(states[:0], histories[:0])) == 0


def test_input_chosen_by_rank_not_name(tmp_path, batch):
    states, histories = batch
    model = random_mlp(3, temporal=True)
    model.graph.input[0].name = "obs_seq"
    for node in model.graph.node:
        node.input[:] = ["obs_seq" if name == "history" else name for name in node.input]
    path = _save(model, tmp_path / "renamed.onnx")
    assert np.array_equal(onnx_policy(path)(states, histories), _direct(path, "obs_seq", histories))
