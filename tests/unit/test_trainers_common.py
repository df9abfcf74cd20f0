"""trainers.common: seeding, devices, atomic checkpoints with RNG states, the CPU precision no-op."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from trainers import common


def test_seed_everything_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    common.seed_everything(3)
    first = draw()
    common.seed_everything(3)
    assert draw() == first
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    common.seed_everything(4)
    assert draw() != first


def test_pick_device():
    assert common.pick_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert common.pick_device(None).type == expected == common.pick_device("auto").type


def test_precision_is_a_no_op_on_cpu():
    precision = common.Precision(torch.device("cpu"), enabled=True)
    assert not precision.enabled and not precision.scaler.is_enabled()
    layer = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    with precision.autocast():
        out = layer(torch.ones(1, 2))
    assert out.dtype == torch.float32
    before = layer.weight.detach().clone()
    norm = precision.step(out.sum(), optimizer, list(layer.parameters()), max_grad_norm=1.0)
    assert norm == pytest.approx(np.sqrt(3.0), rel=1e-5)  # grads: weight (1, 1), bias 1
    assert not torch.equal(before, layer.weight)


@dataclass
class _Args:
    seed: int = 1
    run_dir: Path | None = Path("/tmp/x")
    sizes: tuple[int, ...] = (1, 2)
    kw: dict = field(default_factory=lambda: {"a": Path("/y")})


def test_checkpoint_round_trip_restores_weights_optimizer_and_rng(tmp_path):
    model = nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    generator = np.random.default_rng(0)
    common.seed_everything(9)
    state = common.checkpoint_state(args=_Args(), global_step=42, models={"m": model}, optimizers={"o": optimizer},
                                    generator=generator, extra={"note": 1})
    path = common.save_checkpoint(tmp_path / "ck" / "checkpoint.pt", state)
    after_save = (random.random(), float(np.random.rand()), float(torch.rand(1)), float(generator.random()))
    assert state["args"] == {"seed": 1, "run_dir": "/tmp/x", "sizes": [1, 2], "kw": {"a": "/y"}}

    fresh, fresh_gen = nn.Linear(3, 2), np.random.default_rng(123)
    fresh_opt = torch.optim.Adam(fresh.parameters())
    loaded = common.load_checkpoint(path)
    step = common.restore_state(loaded, models={"m": fresh}, optimizers={"o": fresh_opt}, generator=fresh_gen)
    assert step == 42 and loaded["extra"] == {"note": 1}
    assert torch.equal(fresh.weight, model.weight)
    assert fresh_opt.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    assert (random.random(), float(np.random.rand()), float(torch.rand(1)), float(fresh_gen.random())) == after_save
    assert common.load_checkpoint(tmp_path / "missing.pt") is None


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    common.save_checkpoint(path, {"global_step": 1})

    def broken_save(obj, f, *a, **kw):
        Path(f).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        common.save_checkpoint(path, {"global_step": 2})
    monkeypatch.undo()
    assert common.load_checkpoint(path)["global_step"] == 1  # the old checkpoint survived
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # and no temp file is left


def test_linear_schedule():
    assert common.linear_schedule(1.0, 0.0, 10, 0) == 1.0
    assert common.linear_schedule(1.0, 0.0, 10, 5) == 0.5
    assert common.linear_schedule(1.0, 0.0, 10, 50) == 0.0
    assert common.linear_schedule(1.0, 0.2, 0, 0) == 0.2


def test_default_run_dir_is_under_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("AIWORLD_DATA_DIR", str(tmp_path))
    expected = tmp_path.resolve() / "runs" / "dqn-aiworld_Arena-v0-s3"
    assert common.default_run_dir("dqn", "aiworld/Arena-v0", 3) == expected


@pytest.mark.parametrize("module_name, class_name", [("dqn", "DQNArgs"), ("ppo", "PPOArgs"), ("sac", "SACArgs"),
                                                     ("supervised", "SupervisedArgs")])
def test_every_args_field_has_a_docstring(module_name, class_name):
    import ast
    import importlib
    import inspect

    cls = getattr(importlib.import_module(f"trainers.{module_name}"), class_name)
    body = ast.parse(inspect.getsource(cls)).body[0].body
    documented = {
        node.target.id
        for node, after in zip(body, body[1:], strict=False)
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str) and after.value.value.strip()
    }
    assert set(cls.__dataclass_fields__) == documented
