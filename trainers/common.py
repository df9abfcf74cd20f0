"""Pieces every trainer shares: seeding, device choice, checkpoints, TensorBoard, mixed precision, results.

Each algorithm file (dqn.py, ppo.py, sac.py, supervised.py) stays readable top to bottom; only what would
otherwise be copied four times lives here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

logger = logging.getLogger("aiworld.train")

CHECKPOINT_NAME = "checkpoint.pt"
TB_DIR_NAME = "tb"


@dataclass
class TrainResult:
    """What every trainer returns."""

    model: nn.Module
    """The trained module, in eval mode, on the CPU."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """Scalars describing the run: always `steps` and `seconds`, plus the algorithm's own."""
    checkpoint: Path = Path()
    """The last checkpoint written (`<run_dir>/checkpoint.pt`)."""
    run_dir: Path = Path()
    """Folder holding the checkpoint and the TensorBoard logs (`<run_dir>/tb`)."""


# --- seeding -----------------------------------------------------------------------------------------------


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; with `deterministic`, make cuDNN pick deterministic kernels.

    Environments are seeded separately (through `reset(seed=...)`) because they own their generators.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = deterministic
    # benchmark mode times kernels and picks the fastest, which can differ between runs
    torch.backends.cudnn.benchmark = not deterministic


def rng_states(generator: np.random.Generator | None = None) -> dict[str, Any]:
    """All random generator states, for a checkpoint (so a resumed run draws fresh, reproducible numbers)."""
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        states["generator"] = generator.bit_generator.state
    return states


def restore_rng_states(states: dict[str, Any], generator: np.random.Generator | None = None) -> None:
    """Inverse of `rng_states`; silently skips what the checkpoint lacks (e.g. CUDA state saved on a CPU box)."""
    if "python" in states:
        random.setstate(states["python"])
    if "numpy" in states:
        np.random.set_state(states["numpy"])
    if "torch" in states:
        torch.set_rng_state(states["torch"].cpu())
    if "cuda" in states and torch.cuda.is_available():
        with contextlib.suppress(RuntimeError, ValueError):  # a different number of GPUs than when saved
            torch.cuda.set_rng_state_all([s.cpu() for s in states["cuda"]])
    if generator is not None and "generator" in states:
        generator.bit_generator.state = states["generator"]


# --- device and precision ------------------------------------------------------------------------------------


def pick_device(requested: str | None = None) -> torch.device:
    """`requested` ("cpu", "cuda", "cuda:1", ...) wins; None or "auto" means CUDA when available, else CPU."""
    if requested and requested != "auto":
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Precision:
    """Mixed precision on CUDA only: bf16 autocast when the GPU supports it, else fp16 with a GradScaler.

    On the CPU (or with `enabled=False`) `autocast()` is a no-op and `step()` is a plain optimizer step, so
    the trainers carry one code path.
    """

    def __init__(self, device: torch.device, enabled: bool = True) -> None:
        self.device = device
        self.enabled = bool(enabled) and device.type == "cuda"
        self.dtype: torch.dtype | None = None
        if self.enabled:
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        # bf16 has fp32's exponent range, so only fp16 needs loss scaling
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.enabled and self.dtype == torch.float16)

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.dtype)

    def step(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        parameters: Sequence[nn.Parameter] | None = None,
        max_grad_norm: float | None = None,
    ) -> float:
        """zero_grad, backward, optional gradient clipping, optimizer step. Returns the gradient norm (or nan)."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        grad_norm = float("nan")
        if max_grad_norm is not None and max_grad_norm > 0 and parameters is not None:
            self.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            grad_norm = float(nn.utils.clip_grad_norm_(parameters, max_grad_norm))
        self.scaler.step(optimizer)
        self.scaler.update()
        return grad_norm

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state and self.scaler.is_enabled():
            self.scaler.load_state_dict(state)


# --- run folders, checkpoints, TensorBoard ------------------------------------------------------------------


def default_run_dir(algo: str, env_id: str, seed: int) -> Path:
    """`<AIWORLD_DATA_DIR>/runs/<algo>-<env>-s<seed>`: the data dir is git-ignored, unlike the CleanRL `runs/`."""
    from aiworld.env import data_dir  # light module (os/json/pathlib only): no Django set-up needed

    safe_env = re.sub(r"[^A-Za-z0-9_.-]+", "_", env_id)
    return data_dir() / "runs" / f"{algo}-{safe_env}-s{seed}"


def args_to_dict(args: Any) -> dict[str, Any]:
    """A dataclass of arguments as plain python values (Paths as strings) so checkpoints stay portable."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return {f.name: plain(getattr(args, f.name)) for f in dataclasses.fields(args)}


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact (tmp file + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    logger.debug("checkpoint written: %s (global step %s)", path, state.get("global_step"))
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """The checkpoint at `path`, or None when there is none.

    weights_only=False because the file holds RNG states and args besides tensors; only load checkpoints this
    project wrote.
    """
    path = Path(path)
    if not path.exists():
        return None
    state = torch.load(path, map_location=map_location, weights_only=False)
    logger.info("resuming from %s at global step %s", path, state.get("global_step"))
    return state


def checkpoint_state(
    *,
    args: Any,
    global_step: int,
    models: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    generator: np.random.Generator | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The dictionary every trainer checkpoints: model(s), optimizer(s), global step, RNG states, args."""
    return {
        "global_step": int(global_step),
        "models": {name: module.state_dict() for name, module in models.items()},
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "rng": rng_states(generator),
        "args": args_to_dict(args),
        "extra": extra or {},
        "saved_at": time.time(),
    }


def restore_state(
    state: dict[str, Any],
    *,
    models: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    generator: np.random.Generator | None = None,
    args: Any = None,
) -> int:
    """Load what `checkpoint_state` saved into live objects; returns the global step to continue from."""
    for name, module in models.items():
        module.load_state_dict(state["models"][name])
    for name, opt in optimizers.items():
        if name in state.get("optimizers", {}):
            opt.load_state_dict(state["optimizers"][name])
    restore_rng_states(state.get("rng", {}), generator)
    if args is not None:
        saved, now = state.get("args", {}), args_to_dict(args)
        changed = sorted(k for k in now if k in saved and saved[k] != now[k])
        if changed:
            logger.info("resumed run changed args: %s", ", ".join(f"{k}={saved[k]!r}->{now[k]!r}" for k in changed))
    return int(state["global_step"])


def summary_writer(run_dir: Path, purge_step: int | None = None):
    """TensorBoard writer in `<run_dir>/tb`. On resume `purge_step` drops events a crashed run logged after its
    last checkpoint, so the curves do not fold back on themselves."""
    from torch.utils.tensorboard import SummaryWriter  # imported late: it pulls in tensorboard

    return SummaryWriter(log_dir=str(Path(run_dir) / TB_DIR_NAME), purge_step=purge_step or None)


def log_hparams_text(writer: Any, args: Any) -> None:
    """The args as a markdown table in TensorBoard's text tab (CleanRL does the same)."""
    rows = "\n".join(f"|{k}|{v}|" for k, v in args_to_dict(args).items())
    writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{rows}")


def progress_bar(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="step", dynamic_ncols=True)


# --- small shared helpers ----------------------------------------------------------------------------------


def linear_schedule(start: float, end: float, duration: float, t: float) -> float:
    """Linear from `start` at t=0 to `end` at t=duration, constant afterwards."""
    if duration <= 0:
        return end
    return start + min(max(t / duration, 0.0), 1.0) * (end - start)


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear-activation stack; the last layer has no activation."""
    layers: list[nn.Module] = []
    last = in_dim
    for width in hidden:
        layers += [nn.Linear(last, width), activation()]
        last = width
    layers.append(nn.Linear(last, out_dim))
    return nn.Sequential(*layers)


def to_cpu_eval(model: nn.Module) -> nn.Module:
    return model.to("cpu").eval()


def finite_mean(values: Sequence[float]) -> float:
    """Mean of a possibly empty sequence (nan when empty) as a python float."""
    return float(np.mean(values)) if len(values) else float("nan")
