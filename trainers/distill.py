"""Distillation: a small network that plays like an archetype's fused network at a fraction of its inference.

Why: the fused networks that win (docs/benchmarks.md, versions 3 to 5) read the L1 history through LSTMs
and transformers and cost 11-35 µs per decision on one CPU thread, which held a 2-core farm near 31,000
decisions/s. A student MLP over the flattened history costs a few µs (docs/benchmarks.md, "Distilled fused networks").

How:
1. round 0: the teacher (a fused network's served ONNX file) plays the train scenarios, `epsilon` of its
   decisions random; every `every`-th tick the histories of the deciding monsters are recorded with the
   teacher's output for them;
2. the student learns to output the teacher's centred log-probabilities (mean squared error on them: logit
   matching, Ba & Caruana 2014), so its softmax gives the teacher's probabilities back (the reply's
   confidence keeps its meaning) and its argmax the teacher's choice;
3. rounds 1.. (DAgger, Ross et al. 2011): the student plays, the teacher labels what it meets, the data
   aggregates and a fresh student learns from all of it. Querying the teacher is one forward pass (not the
   lookahead search), so a round is ~10^5 decisions in minutes.

Held-out scenarios are never played here; trainers/jobs.py `distill` judges the student on them, against its
teacher on the same encounters. Each round leaves its data and weights under <out_dir>/distill/, and a
rerun resumes after the last finished round.

    python manage.py distill --archetype tank          # from the active version (docs/learning.md)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from aiworld.mobs.state import ARCHETYPES, HISTORY_LENGTH, Action, output_actions
from trainers.networks import DistilledMLP

log = logging.getLogger("aiworld.train")
TRADITIONAL = int(Action.TRADITIONAL_AI)

Teacher = Callable[[np.ndarray], np.ndarray]
"""teacher(histories float32[N, 10, 64]) -> centred log-probabilities float32[N, outputs]"""


@dataclass
class DistillArgs:
    archetype: str
    """one of aiworld.mobs.state.ARCHETYPES"""
    teacher: Path
    """the teacher's ONNX file: a fused network (history input, log-probabilities out), as served"""
    out_dir: Path
    """where the rounds' data and weights go (<out_dir>/distill/)"""
    scenarios: tuple[str, ...] = ()
    """the train scenarios played (cycled over by batch); empty: every train scenario holding the archetype"""
    batches: int = 10
    """batches of `arenas` encounters per round"""
    arenas: int = 128
    """encounters played together per batch"""
    rounds: int = 3
    """collection rounds: round 0 the teacher plays, each later one the latest student (DAgger)"""
    epsilon: float = 0.1
    """share of decisions where a random output is played (the student must see what mistakes lead to)"""
    every: int = 2
    """record the decisions of every `every`-th tick (consecutive ticks are near copies of each other)"""
    history: int = HISTORY_LENGTH
    """states of the L1 history the student reads (the newest ones)"""
    hidden: int = 256
    """width of the student's two hidden layers"""
    epochs: int = 10
    """passes over the aggregated data per round; the learning rate halves each epoch of the second half"""
    batch_size: int = 512
    """decisions per gradient step"""
    lr: float = 1e-3
    """Adam's learning rate"""
    holdout: float = 0.05
    """share of the decisions kept out of training to report the student's agreement with its teacher"""
    seed: int = 1
    """seeds the encounters, the exploration and the student's initialisation"""
    progress: bool = True
    """tqdm bars"""
    threads: int = 1
    """torch and onnxruntime threads (the machines are shared)"""

    def __post_init__(self) -> None:
        if self.archetype not in ARCHETYPES:
            raise ValueError(f"unknown archetype {self.archetype!r}; one of {', '.join(ARCHETYPES)}")
        if not 1 <= self.history <= HISTORY_LENGTH:
            raise ValueError(f"history must be 1 to {HISTORY_LENGTH}, got {self.history}")
        if min(self.batches, self.arenas, self.rounds, self.every, self.hidden, self.epochs, self.batch_size) < 1:
            raise ValueError("batches, arenas, rounds, every, hidden, epochs and batch_size must be positive")
        if not 0 <= self.epsilon <= 1 or not 0 < self.holdout < 1:
            raise ValueError("epsilon must be in [0, 1] and holdout in (0, 1)")
        if not self.scenarios:
            from trainers.pipeline import scenarios_with

            self.scenarios = tuple(scenarios_with(self.archetype, "train"))

    @property
    def folder(self) -> Path:
        return self.out_dir / "distill"


@dataclass
class Data:
    """Recorded decisions: histories float16[N, 10, 64] (the states are in [0, 1]: float16 is within 0.00025,
    as in the protocol's fast form) and the teacher's centred log-probabilities float32[N, outputs]."""

    histories: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.histories)

    def extend(self, other: Data) -> Data:
        return Data(np.concatenate([self.histories, other.histories]), np.concatenate([self.targets, other.targets]))


def onnx_teacher(path: Path, threads: int = 1) -> tuple[Teacher, int]:
    """The teacher as a function of histories, and its output width (10, or 11 with action 255)."""
    from trainers.evaluate import cpu_session

    session = cpu_session(path, threads)
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 3:
        raise ValueError(f"{path}: a teacher is a fused network with one history input [N, 10, 64]")
    name, outputs = inputs[0].name, session.get_outputs()[0].shape[1]

    def teacher(histories: np.ndarray) -> np.ndarray:
        (logits,) = session.run(None, {name: np.ascontiguousarray(histories, dtype=np.float32)})
        # centred: the engine's softmax ignores a constant shift, so these are the teacher's log-probabilities
        return (logits - logits.mean(axis=1, keepdims=True)).astype(np.float32)

    return teacher, int(outputs)


def collect(args: DistillArgs, teacher: Teacher, outputs: int, rng: np.random.Generator,
            student: nn.Module | None = None, desc: str = "") -> Data:
    """One round: `args.batches` batches of encounters of the train scenarios; the archetype's monsters act
    every tick (as served) by the teacher's argmax, or the student's when given, `epsilon` of them at random;
    the rest of the pack plays the traditional AI."""
    from trainers.arena import VecArena, load_scenario
    from trainers.evaluate import HistoryBuffer

    index = ARCHETYPES.index(args.archetype)
    histories: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for b in tqdm(range(args.batches), desc=desc or f"{args.archetype} distill", unit="batch",
                  disable=not args.progress):
        name = args.scenarios[b % len(args.scenarios)]
        arena = VecArena(load_scenario(name), args.arenas, seed=int(rng.integers(2**31)), auto_reset=False)
        E, M = arena.archetype.shape
        memory = HistoryBuffer(E, M)
        controlled = np.asarray(arena.archetype) == index
        actions = np.full((E, M), TRADITIONAL, np.int16)
        tick = 0
        while not arena.finished.all():
            memory.push(arena.observe())
            actions.fill(TRADITIONAL)
            acting = controlled & arena.alive & ~arena.finished[:, None]
            if acting.any():
                seen = memory.gather(acting)
                recorded = tick % args.every == 0
                labels = teacher(seen) if recorded or student is None else None  # a student's tick: no label
                if recorded:
                    histories.append(seen.astype(np.float16))
                    targets.append(labels)
                if student is None:
                    chosen = labels.argmax(axis=1)
                else:
                    with torch.no_grad():
                        chosen = student(torch.from_numpy(seen)).argmax(dim=1).numpy()
                explore = rng.random(len(seen)) < args.epsilon
                chosen = np.where(explore, rng.integers(0, outputs, len(seen)), chosen)
                actions[acting] = output_actions(chosen)
            arena.step(actions)
            tick += 1
    if not histories:
        raise RuntimeError(f"no {args.archetype} monster acted in {list(args.scenarios)}")
    return Data(np.concatenate(histories), np.concatenate(targets))


def fit(args: DistillArgs, data: Data, outputs: int, seed: int) -> tuple[DistilledMLP, dict]:
    """A fresh student trained on `data` (less its holdout share). Returns it and its metrics."""
    torch.manual_seed(seed)
    order = np.random.default_rng(seed).permutation(len(data))
    kept = max(1, int(len(data) * args.holdout))
    held, train = order[:kept], order[kept:] if len(data) > kept else order
    model = DistilledMLP(history=args.history, hidden=args.hidden, outputs=outputs)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    x_all, y_all = torch.from_numpy(data.histories), torch.from_numpy(data.targets)
    losses: list[float] = []
    bar = tqdm(range(args.epochs), desc=f"{args.archetype} student", unit="epoch", disable=not args.progress)
    for epoch in bar:
        for group in optimizer.param_groups:  # constant, then halved each epoch of the second half
            group["lr"] = args.lr * 0.5 ** max(0, epoch - args.epochs // 2)
        total = 0.0
        for start in range(0, len(train), args.batch_size):
            rows = torch.from_numpy(train[start:start + args.batch_size])
            out = model(x_all[rows].float())
            loss = ((out - out.mean(dim=1, keepdim=True) - y_all[rows]) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        losses.append(total / len(train))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    metrics = {"loss": losses[-1], "losses": losses, "train_decisions": int(len(train)),
               "holdout_decisions": int(kept), "train_agreement": agreement(model, data, train[:kept * 4]),
               "holdout_agreement": agreement(model, data, held)}
    return model, metrics


def agreement(model: nn.Module, data: Data, rows: np.ndarray) -> float:
    """Share of the decisions `rows` where the student's argmax is the teacher's."""
    if len(rows) == 0:
        return float("nan")
    with torch.no_grad():
        chosen = model(torch.from_numpy(data.histories[rows]).float()).argmax(dim=1).numpy()
    return float((chosen == data.targets[rows].argmax(axis=1)).mean())


def _load_round(args: DistillArgs, r: int, outputs: int) -> tuple[Data, DistilledMLP, dict] | None:
    """Round r's own decisions, its student and metrics, when the round finished."""
    data_path, weights_path = args.folder / f"data_{r}.npz", args.folder / f"student_{r}.pt"
    if not (data_path.exists() and weights_path.exists()):
        return None
    saved = np.load(data_path)
    new = Data(saved["histories"], saved["targets"])
    checkpoint = torch.load(weights_path, weights_only=True)
    model = DistilledMLP(history=args.history, hidden=args.hidden, outputs=outputs)
    model.load_state_dict(checkpoint["state_dict"])
    return new, model, json.loads(checkpoint["metrics"])


def _save_round(args: DistillArgs, r: int, new: Data, model: DistilledMLP, metrics: dict) -> None:
    """Round r's own decisions (not the aggregate: a rerun adds the rounds up again) and its student."""
    args.folder.mkdir(parents=True, exist_ok=True)
    # written under a temporary name, then renamed: a job killed mid-write leaves no half round to resume from
    tmp = args.folder / f"data_{r}.tmp.npz"
    np.savez(tmp, histories=new.histories, targets=new.targets)
    tmp.replace(args.folder / f"data_{r}.npz")
    torch.save({"state_dict": model.state_dict(), "metrics": json.dumps(metrics)}, args.folder / f"student_{r}.tmp")
    (args.folder / f"student_{r}.tmp").replace(args.folder / f"student_{r}.pt")


def train(args: DistillArgs) -> tuple[DistilledMLP, dict]:
    """All rounds (resuming after the last finished one). Returns the last student and the metrics."""
    # -- seeding: the encounters, the exploration and each round's student initialisation derive from args.seed
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    teacher, outputs = onnx_teacher(args.teacher, args.threads)
    data: Data | None = None
    model: DistilledMLP | None = None
    rounds: list[dict] = []
    for r in range(args.rounds):
        resumed = _load_round(args, r, outputs)
        if resumed is not None:
            new, model, metrics = resumed
            data = new if data is None else data.extend(new)
            rounds.append(metrics)
            log.info("%s distill: round %d resumed from %s", args.archetype, r, args.folder)
            continue
        rng = np.random.default_rng([args.seed, r])
        new = collect(args, teacher, outputs, rng, student=None if r == 0 else model.eval(),
                      desc=f"{args.archetype} distill round {r}")
        data = new if data is None else data.extend(new)
        model, metrics = fit(args, data, outputs, seed=args.seed * 1000 + r)
        metrics = {"round": r, "decisions": len(data), "new_decisions": len(new), **metrics}
        log.info("%s distill round %d: %d decisions, holdout agreement %.3f", args.archetype, r, len(data),
                 metrics["holdout_agreement"])
        _save_round(args, r, new, model, metrics)
        rounds.append(metrics)
    assert model is not None and data is not None
    summary = {"algorithm": "distill", "teacher": str(args.teacher), "outputs": outputs,
               "parameters": sum(p.numel() for p in model.parameters()), "decisions": len(data),
               "holdout_agreement": rounds[-1]["holdout_agreement"], "rounds": rounds,
               "train_seconds": time.perf_counter() - started,
               "args": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(args).items()}}
    (args.folder / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    return model.eval(), summary


def sample_histories(args: DistillArgs, count: int = 4096) -> np.ndarray:
    """float32[≤count, 10, 64]: histories the last round recorded (the student's own games), for the export's
    parity check."""
    saved = np.load(args.folder / f"data_{args.rounds - 1}.npz")
    histories = saved["histories"]
    rows = np.random.default_rng(args.seed).choice(len(histories), min(count, len(histories)), replace=False)
    return histories[np.sort(rows)].astype(np.float32)
