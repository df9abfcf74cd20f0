"""trainers.supervised: learns a separable problem, early stopping, aux heads, hooks, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainers import supervised
from trainers.common import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _blobs(n: int = 1200, dim: int = 8, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(classes, dim))
    labels = rng.integers(0, classes, size=n)
    return (centres[labels] + rng.normal(0, 1, size=(n, dim))).astype(np.float32), labels.astype(np.int64)


def _mlp(dim: int = 8, out: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(dim, 32), nn.ReLU(), nn.Linear(32, out))


def _args(tmp_path, **kw) -> supervised.SupervisedArgs:
    base = dict(run_dir=tmp_path / "run", device="cpu", epochs=15, batch_size=64, learning_rate=3e-3, patience=3)
    base.update(kw)
    return supervised.SupervisedArgs(**base)


def test_learns_separable_classes(tmp_path):
    x, y = _blobs()
    epochs: list[int] = []
    result = supervised.train(_args(tmp_path), _mlp(), x, y, loss="ce", progress=False,
                              on_epoch=lambda e, s: epochs.append(e))
    m = result.metrics
    assert m["val_accuracy"] > 0.9
    assert m["val_rows"] == 120 and m["train_rows"] == 1080
    assert m["steps"] == m["epochs"] * 17 and epochs == list(range(1, m["epochs"] + 1))
    assert m["val_loss"] < 0.5 and m["seconds"] > 0
    assert result.checkpoint.exists() and (tmp_path / "run" / "tb").is_dir()
    assert not result.model.training
    logits = result.model(torch.as_tensor(x[:200]))
    assert (logits.argmax(1).numpy() == y[:200]).mean() > 0.9


def test_random_labels_stop_early_and_keep_the_best_epoch(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=400)
    result = supervised.train(_args(tmp_path, epochs=60, patience=2, learning_rate=1e-2), _mlp(), x, y, progress=False)
    m = result.metrics
    assert m["stopped_early"] and m["epochs"] < 60
    assert m["epochs"] - m["best_epoch"] == 2
    state = load_checkpoint(result.checkpoint)
    for name, value in result.model.state_dict().items():  # the returned weights are the best epoch's
        assert torch.equal(value, state["extra"]["best_state"][name])


def test_soft_targets_and_ignored_labels(tmp_path):
    x, y = _blobs(600)
    soft = np.eye(3, dtype=np.float32)[y] * 0.9 + 0.1 / 3
    result = supervised.train(_args(tmp_path, epochs=8), _mlp(), x, soft, loss="ce", progress=False)
    assert result.metrics["val_accuracy"] > 0.9
    y_missing = y.copy()
    y_missing[::2] = -1  # unlabeled rows are ignored, not a class
    result = supervised.train(_args(tmp_path, run_dir=tmp_path / "b", epochs=8), _mlp(), x, y_missing,
                              progress=False)
    assert result.metrics["val_accuracy"] > 0.9


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Sequential(nn.Linear(8, 32), nn.ReLU())
        self.main, self.aux = nn.Linear(32, 3), nn.Linear(32, 2)

    def forward(self, x):
        return self.main(self.trunk(x))

    def supervised_outputs(self, x):
        h = self.trunk(x)
        return self.main(h), self.aux(h)


def test_aux_head_through_supervised_outputs(tmp_path):
    x, y = _blobs(800)
    aux = (x[:, 0] > 0).astype(np.int64)
    aux[::5] = -1
    result = supervised.train(_args(tmp_path, epochs=10, aux_weight=0.5), TwoHeads(), x, y, aux_targets=aux,
                              progress=False)
    m = result.metrics
    assert m["val_accuracy"] > 0.9 and m["val_aux_accuracy"] > 0.85
    assert m["val_loss"] == pytest.approx(m["val_main_loss"] + 0.5 * m["val_aux_loss"], rel=1e-4)
    with pytest.raises(TypeError, match="supervised_outputs"):
        supervised.train(_args(tmp_path, run_dir=tmp_path / "c"), _mlp(), x, y, aux_targets=aux, progress=False)


class Ensemble(nn.Module):
    supervised_kind = "regression"

    def __init__(self, members: int = 3):
        super().__init__()
        torch.manual_seed(0)
        self.members = nn.ModuleList(nn.Linear(4, 2) for _ in range(members))

    def forward(self, x):
        return -self.supervised_outputs(x)[0].mean(1)

    def supervised_outputs(self, x):
        return torch.stack([m(x) for m in self.members], dim=1), None


def test_regression_of_an_ensemble_kind_from_the_model(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(600, 4)).astype(np.float32)
    w = rng.normal(size=(4, 2)).astype(np.float32)
    y = x @ w
    model = Ensemble()
    result = supervised.train(_args(tmp_path, epochs=30, learning_rate=3e-2, patience=5), model, x, y,
                              progress=False)
    assert "val_accuracy" not in result.metrics  # "regression" -> mse, no accuracy
    assert result.metrics["val_loss"] < 0.01
    for member in model.members:
        np.testing.assert_allclose(member.weight.detach().numpy(), w.T, atol=0.1)


class OwnLoss(nn.Module):
    """Regression on the taken action only: the model defines its objective."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x):
        return self.net(x)

    def supervised_loss(self, x, targets, aux_targets):
        self.calls += 1
        predicted = self.net(x).gather(1, aux_targets[:, None]).squeeze(1)
        return F.mse_loss(predicted, targets)


def test_model_supervised_loss_hook_is_the_objective(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 4)).astype(np.float32)
    taken = rng.integers(0, 3, size=500)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    y = (x @ w)[np.arange(500), taken]
    model = OwnLoss()
    result = supervised.train(_args(tmp_path, epochs=40, learning_rate=3e-2, patience=5), model, x, y,
                              aux_targets=taken, loss="mse", progress=False)
    assert model.calls > 0 and result.metrics["val_loss"] < 0.01
    np.testing.assert_allclose(model.net.weight.detach().numpy(), w.T, atol=0.1)


def test_resume_continues_after_the_last_epoch(tmp_path):
    x, y = _blobs(400)
    first = supervised.train(_args(tmp_path, epochs=3, patience=100), _mlp(), x, y, progress=False)
    assert first.metrics["epochs"] == 3 and first.metrics["steps"] == 3 * 6
    epochs: list[int] = []
    second = supervised.train(_args(tmp_path, epochs=5, patience=100), _mlp(), x, y, progress=False,
                              on_epoch=lambda e, s: epochs.append(e))
    assert epochs == [4, 5]
    assert second.metrics["epochs"] == 5 and second.metrics["steps"] == 5 * 6
    assert len(load_checkpoint(second.checkpoint)["extra"]["history"]) == 5


def test_same_seed_same_split_and_weights(tmp_path):
    x, y = _blobs(300)
    a = supervised.train(_args(tmp_path, run_dir=tmp_path / "a", epochs=3), _mlp(), x, y, progress=False)
    b = supervised.train(_args(tmp_path, run_dir=tmp_path / "b", epochs=3), _mlp(), x, y, progress=False)
    c = supervised.train(_args(tmp_path, run_dir=tmp_path / "c", epochs=3, seed=2), _mlp(), x, y, progress=False)
    assert a.metrics["val_loss"] == b.metrics["val_loss"] != c.metrics["val_loss"]


def test_bad_arguments(tmp_path):
    x, y = _blobs(50)
    with pytest.raises(ValueError, match="loss"):
        supervised.train(_args(tmp_path), _mlp(), x, y, loss="hinge", progress=False)
    with pytest.raises(ValueError, match="rows"):
        supervised.train(_args(tmp_path), _mlp(), x, y[:10], progress=False)
    with pytest.raises(ValueError, match="nothing to learn"):
        supervised.train(_args(tmp_path), _mlp(), x, None, progress=False)
