"""Supervised training of a given model on arrays (CleanRL-like layout: arguments, seeding, one loop).

Objectives (the first that applies):
1. The model defines `supervised_loss(x, targets, aux_targets) -> scalar`: the model owns its objective (its
   masking, ensembles, aux weighting); the trainer only minimises it. Accuracy is still reported from the main
   output below for classification.
2. Built in, by `loss` (argument, else `args.loss`, else the model's `supervised_kind` "classification" /
   "regression", else "ce"):
   - "ce": cross-entropy. Integer targets [N] are class ids (−1 = no label, ignored); float targets with the
     logits' shape [N, C] are soft labels (probabilities, e.g. a distilled teacher's); accuracy then compares
     with their argmax.
   - "mse": mean squared error. If the output has one more dimension than the targets (an ensemble, output
     [N, K, ...] against targets [N, ...]) every member is regressed on the same targets.

Outputs: when the model has `supervised_outputs(x) -> (main, aux)` that method is used (`main` may be None
when `targets` is None), otherwise `forward(x)` is the main output and there is no aux output. `aux_targets`
need an aux output (or a `supervised_loss`); the aux objective is `args.aux_loss` with weight `args.aux_weight`
(aux class ids of −1 are ignored, as the arena's `target_pattern` uses −1 for "no target").

A seeded split holds out `val_fraction` of the rows; training stops early once the validation loss (main +
weighted aux) has not improved by `min_delta` for `patience` epochs, and the best epoch's weights are returned.
Checkpoints are written each `checkpoint_every` epochs and at the end; rerunning with the same run_dir resumes
after the last checkpointed epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainers.common import (
    CHECKPOINT_NAME,
    Precision,
    TrainResult,
    checkpoint_state,
    default_run_dir,
    load_checkpoint,
    log_hparams_text,
    logger,
    pick_device,
    progress_bar,
    restore_state,
    save_checkpoint,
    seed_everything,
    summary_writer,
    to_cpu_eval,
)

LOSSES = ("ce", "mse")
EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class SupervisedArgs:
    name: str = "supervised"
    """Label of the run (used in the default run_dir)."""
    seed: int = 1
    """Seed for python, numpy, torch, the train/validation split and the minibatch order."""
    torch_deterministic: bool = True
    """Set torch.backends.cudnn.deterministic (and turn cuDNN benchmarking off)."""
    device: str | None = None
    """"cpu", "cuda", "cuda:N"; None or "auto": CUDA when available."""
    mixed_precision: bool = True
    """Autocast on CUDA (bf16, or fp16 with loss scaling); ignored on the CPU."""
    run_dir: Path | None = None
    """Checkpoint and TensorBoard folder; None: <AIWORLD_DATA_DIR>/runs/supervised-<name>-s<seed>."""
    loss: str | None = None
    """Main objective: "ce" (classification) or "mse" (regression); None: from the model's `supervised_kind`
    ("regression" -> "mse"), else "ce". `train(loss=...)` overrides it."""
    aux_loss: str = "ce"
    """Objective of the auxiliary head: "ce" or "mse"."""
    aux_weight: float = 1.0
    """Weight of the auxiliary loss in the total."""
    epochs: int = 50
    """Maximum number of passes over the training rows."""
    batch_size: int = 256
    """Rows per minibatch."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay (0: plain Adam behaviour)."""
    val_fraction: float = 0.1
    """Fraction of rows held out for validation (0: early stopping watches the training loss)."""
    patience: int = 5
    """Epochs without validation improvement before stopping."""
    min_delta: float = 0.0
    """Improvement smaller than this does not count."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 disables)."""
    checkpoint_every: int = 1
    """Epochs between checkpoints (one is always written at the end)."""


KIND_TO_LOSS = {"classification": "ce", "regression": "mse"}


def _loss_kind(model: nn.Module, loss: str | None, args_loss: str | None) -> str:
    if loss or args_loss:
        return loss or args_loss
    return KIND_TO_LOSS.get(getattr(model, "supervised_kind", ""), "ce")


def _model_outputs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if hasattr(model, "supervised_outputs"):
        main, aux = model.supervised_outputs(x)
        return main, aux
    return model(x), None


def _objective(kind: str, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(mean loss, per-row correctness or None) for one head."""
    output = output.float()
    if kind == "ce":
        if target.dtype.is_floating_point:  # soft labels
            loss = -(target * F.log_softmax(output, dim=-1)).sum(dim=-1).mean()
            return loss, output.argmax(dim=-1) == target.argmax(dim=-1)
        labelled = target != -1
        if not bool(labelled.any()):
            return output.sum() * 0.0, output.new_zeros(0, dtype=torch.bool)
        loss = F.cross_entropy(output, target, ignore_index=-1)
        return loss, (output.argmax(dim=-1) == target)[labelled]
    if output.dim() == target.dim() + 1:  # ensemble members [B, K, ...] share the targets [B, ...]
        target = target.unsqueeze(1).expand_as(output)
    elif output.shape != target.shape and output.numel() == target.numel():  # e.g. [B, 1] against [B]
        output = output.reshape(target.shape)
    return F.mse_loss(output, target), None


def _as_tensor(array: np.ndarray | None, kind: str) -> torch.Tensor | None:
    if array is None:
        return None
    array = np.asarray(array)
    if kind == "ce" and np.issubdtype(array.dtype, np.integer):
        return torch.as_tensor(array.astype(np.int64))
    return torch.as_tensor(array.astype(np.float32))


def train(
    args: SupervisedArgs,
    model: nn.Module,
    inputs: np.ndarray,
    targets: np.ndarray | None,
    aux_targets: np.ndarray | None = None,
    loss: str | None = None,
    progress: bool = True,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Train `model` in place and return it (best validation epoch's weights, eval mode, CPU).

    `on_epoch(epoch, stats)` (optional) runs after each epoch with the train/validation numbers.
    """
    kind = _loss_kind(model, loss, args.loss)
    if kind not in LOSSES or args.aux_loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r} / aux {args.aux_loss!r}")
    if targets is None and aux_targets is None:
        raise ValueError("nothing to learn: targets and aux_targets are both None")
    custom_loss = hasattr(model, "supervised_loss")
    if (aux_targets is not None or targets is None) and not (custom_loss or hasattr(model, "supervised_outputs")):
        raise TypeError("aux_targets (or targets=None) need a model with supervised_outputs(x) -> (main, aux) "
                        "or supervised_loss(x, targets, aux_targets)")
    n = len(inputs)
    for name, array in (("targets", targets), ("aux_targets", aux_targets)):
        if array is not None and len(array) != n:
            raise ValueError(f"{name} has {len(array)} rows, inputs {n}")

    run_dir = Path(args.run_dir) if args.run_dir is not None else default_run_dir("supervised", args.name, args.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / CHECKPOINT_NAME

    # --- seeding ---
    seed_everything(args.seed, args.torch_deterministic)
    device = pick_device(args.device)
    precision = Precision(device, args.mixed_precision)

    # --- data: a seeded split, kept on the CPU and moved per minibatch ---
    x_all = torch.as_tensor(np.asarray(inputs, dtype=np.float32))
    y_all = _as_tensor(targets, kind)
    aux_all = _as_tensor(aux_targets, args.aux_loss)
    order = np.random.default_rng(args.seed).permutation(n)
    n_val = int(round(n * args.val_fraction)) if args.val_fraction > 0 else 0
    n_val = min(max(n_val, 1 if args.val_fraction > 0 else 0), n - 1)
    val_idx, train_idx = torch.as_tensor(order[:n_val]), torch.as_tensor(order[n_val:])

    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)

    def batch_loss(idx: torch.Tensor, with_metrics: bool) -> tuple[torch.Tensor, dict[str, Any]]:
        """(total loss, per-head losses and per-row correctness when computed)."""
        x = x_all[idx].to(device, non_blocking=True)
        y = None if y_all is None else y_all[idx].to(device, non_blocking=True)
        a = None if aux_all is None else aux_all[idx].to(device, non_blocking=True)
        parts: dict[str, Any] = {}
        if custom_loss:
            with precision.autocast():
                total = model.supervised_loss(x, y, a).float()
            if not with_metrics:
                return total, parts
            with precision.autocast():
                main, aux = _model_outputs(model, x)
            if y is not None and main is not None and kind == "ce":
                parts["correct"] = _objective("ce", main, y)[1]
            if a is not None and aux is not None and args.aux_loss == "ce":
                parts["aux_correct"] = _objective("ce", aux, a)[1]
            return total, parts

        with precision.autocast():
            main, aux = _model_outputs(model, x)
        total = torch.zeros((), device=device)
        if y is not None:
            if main is None:
                raise TypeError("the model gave no main output but targets were given")
            main_loss, correct = _objective(kind, main, y)
            total = total + main_loss
            parts.update(loss=main_loss.detach(), correct=correct)
        if a is not None:
            if aux is None:
                raise TypeError("the model gave no aux output but aux_targets were given")
            aux_loss, aux_correct = _objective(args.aux_loss, aux, a)
            total = total + args.aux_weight * aux_loss
            parts.update(aux_loss=aux_loss.detach(), aux_correct=aux_correct)
        return total, parts

    def evaluate(indices: torch.Tensor) -> dict[str, float]:
        model.eval()
        sums = {"total": 0.0, "loss": 0.0, "aux_loss": 0.0}
        hits = {"correct": [0, 0], "aux_correct": [0, 0]}
        with torch.no_grad():
            for start in range(0, len(indices), args.batch_size * 4):
                idx = indices[start:start + args.batch_size * 4]
                total, parts = batch_loss(idx, with_metrics=True)
                sums["total"] += float(total) * len(idx)
                for key in ("loss", "aux_loss"):
                    if key in parts:
                        sums[key] += float(parts[key]) * len(idx)
                for key in hits:
                    if parts.get(key) is not None:
                        hits[key][0] += int(parts[key].sum())
                        hits[key][1] += int(parts[key].numel())
        out = {"total": sums["total"] / max(len(indices), 1)}
        if y_all is not None and not custom_loss:
            out["loss"] = sums["loss"] / max(len(indices), 1)
        if aux_all is not None and not custom_loss:
            out["aux_loss"] = sums["aux_loss"] / max(len(indices), 1)
        if hits["correct"][1]:
            out["accuracy"] = hits["correct"][0] / hits["correct"][1]
        if hits["aux_correct"][1]:
            out["aux_accuracy"] = hits["aux_correct"][0] / hits["aux_correct"][1]
        return out

    # --- resume ---
    global_step, epoch = 0, 0
    best_loss, best_epoch, bad_epochs, stopped = float("inf"), 0, 0, False
    best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    history: list[dict[str, float]] = []
    state = load_checkpoint(checkpoint_path, map_location=device)
    if state is not None:
        global_step = restore_state(state, models={"model": model}, optimizers={"optimizer": optimizer}, args=args)
        extra = state["extra"]
        precision.load_state_dict(extra.get("scaler", {}))
        epoch, best_loss, best_epoch = extra["epoch"], extra["best_loss"], extra["best_epoch"]
        bad_epochs, stopped = extra["bad_epochs"], extra["stopped"]
        best_state, history = extra["best_state"], extra["history"]

    writer = summary_writer(run_dir, purge_step=epoch)
    if epoch == 0:
        log_hparams_text(writer, args)
    logger.info("supervised %s (%s): %d train / %d val rows on %s, epoch %d -> %d, run_dir %s", args.name, kind,
                len(train_idx), len(val_idx), device, epoch, args.epochs, run_dir)

    def save() -> Path:
        extra = {"scaler": precision.state_dict(), "epoch": epoch, "best_loss": best_loss, "best_epoch": best_epoch,
                 "bad_epochs": bad_epochs, "stopped": stopped, "best_state": best_state, "history": history}
        return save_checkpoint(checkpoint_path, checkpoint_state(
            args=args, global_step=global_step, models={"model": model}, optimizers={"optimizer": optimizer},
            extra=extra))

    # --- the loop ---
    start_time, start_step = time.perf_counter(), global_step
    bar = progress_bar(args.epochs, min(epoch, args.epochs), progress, f"supervised {args.name}")
    while epoch < args.epochs and not stopped:
        model.train()
        # the minibatch order depends on (seed, epoch) only, so a resumed run sees the same order
        generator = torch.Generator().manual_seed(args.seed * 100_003 + epoch)
        perm = train_idx[torch.randperm(len(train_idx), generator=generator)]
        train_sum = 0.0
        for start in range(0, len(perm), args.batch_size):
            idx = perm[start:start + args.batch_size]
            total, _ = batch_loss(idx, with_metrics=False)
            precision.step(total, optimizer, list(model.parameters()), args.max_grad_norm)
            train_sum += float(total.detach()) * len(idx)
            global_step += 1
        epoch += 1

        stats = {"train_loss": train_sum / max(len(perm), 1)}
        if n_val:
            stats.update({f"val_{k}" if k != "total" else "val_total": v for k, v in evaluate(val_idx).items()})
        watched = stats.get("val_total", stats["train_loss"])
        if watched < best_loss - args.min_delta:
            best_loss, best_epoch, bad_epochs = watched, epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
            stopped = bad_epochs >= args.patience
        history.append({"epoch": epoch, **stats})
        for key, value in stats.items():
            writer.add_scalar(f"supervised/{key}", value, epoch)
        bar.update(1)
        bar.set_postfix(loss=f"{watched:.4f}", best=best_epoch)
        if on_epoch is not None:
            on_epoch(epoch, dict(stats))
        if epoch % args.checkpoint_every == 0 and not stopped:
            save()

    bar.close()
    model.load_state_dict(best_state)  # the returned (and checkpointed) weights are the best epoch's
    seconds = time.perf_counter() - start_time
    checkpoint = save()
    writer.flush()
    writer.close()

    best_stats = next((h for h in history if h["epoch"] == best_epoch), history[-1] if history else {})
    metrics: dict[str, Any] = {
        "steps": global_step,
        "seconds": seconds,
        "steps_per_second": (global_step - start_step) / max(seconds, 1e-9),
        "epochs": epoch,
        "best_epoch": best_epoch,
        "stopped_early": stopped,
        "train_rows": len(train_idx),
        "val_rows": n_val,
        "train_loss": best_stats.get("train_loss", float("nan")),
        # the early-stopping quantity: main + aux_weight * aux (just the main loss when there is no aux head)
        "val_loss": best_stats.get("val_total", float("nan")),
    }
    for key in ("val_accuracy", "val_aux_loss", "val_aux_accuracy"):
        if key in best_stats:
            metrics[key] = best_stats[key]
    if "val_loss" in best_stats and aux_all is not None:
        metrics["val_main_loss"] = best_stats["val_loss"]
    logger.info("supervised %s done: %s", args.name,
                {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})
    return TrainResult(model=to_cpu_eval(model), metrics=metrics, checkpoint=checkpoint, run_dir=run_dir)
