"""Does a smaller temporal transformer play as well? Win rate against inference cost, on one version's dataset.

    PYTHONPATH=. python bench/member_size.py --archetype tank --version 4 [--encounters 300]

Each size variant of the temporal_transformer member (dim, depth, heads) learns the version's lookahead
dataset exactly as the pipeline trains that member (11 outputs, the candidates' values regressed, the same
seed and epoch budget), then plays alone on the held-out scenarios against the traditional AI (paired
encounters, Wilson 95 % interval), and its FP32 ONNX export is timed on one onnxruntime thread, batch 500,
variants alternated in one run (the machine is shared). Nothing is registered or shipped.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aiworld.mobs.state import MODEL_OUTPUTS
from trainers import supervised
from trainers.evaluate import cpu_session, evaluate
from trainers.export import export_onnx
from trainers.networks import TemporalTransformer, parameter_count
from trainers.pipeline import HELDOUT_SEED, Budget, Dataset, PipelineArgs, torch_policy


@dataclass(frozen=True)
class Size:
    dim: int
    depth: int
    heads: int

    @property
    def name(self) -> str:
        return f"dim {self.dim}, depth {self.depth}, heads {self.heads}"


SIZES = (Size(48, 2, 4), Size(32, 1, 4), Size(16, 1, 2))  # the first is the pipeline's


def train(size: Size, data: Dataset, seed: int, epochs: int, run_dir: Path) -> TemporalTransformer:
    model = TemporalTransformer(n_actions=MODEL_OUTPUTS, dim=size.dim, depth=size.depth, heads=size.heads)
    model.learns_values = True
    result = supervised.train(supervised.SupervisedArgs(run_dir=run_dir, seed=seed, epochs=epochs), model,
                              data.histories, data.centred_values(), progress=False)
    return result.model.eval()


def cost_us(paths: list[Path], runs: int = 20, batch: int = 500, x: np.ndarray | None = None) -> list[float]:
    """µs per decision of each file (history input), median of `runs` alternated runs on histories `x` (default:
    `batch` random ones)."""
    sessions = [cpu_session(p) for p in paths]
    x = np.random.default_rng(0).random((batch, 10, 64), dtype=np.float32) if x is None else x
    batch = len(x)
    times: list[list[float]] = [[] for _ in sessions]
    for r in range(runs + 3):
        for i, session in enumerate(sessions):
            started = time.perf_counter()
            session.run(None, {session.get_inputs()[0].name: x})
            if r >= 3:  # warm-up
                times[i].append(time.perf_counter() - started)
    return [float(np.median(t)) / batch * 1e6 for t in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archetype", required=True)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--encounters", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    torch.set_num_threads(1)
    args = PipelineArgs(archetype=options.archetype, version=options.version, out_root=options.models,
                        seed=options.seed)
    data = Dataset.load(args.out_dir / "dataset.npz")
    tmp = Path(tempfile.mkdtemp(prefix="member-size-"))
    rows, files = [], []
    for size in SIZES:
        started = time.monotonic()
        model = train(size, data, options.seed, Budget().supervised_epochs, tmp / f"run-{size.dim}-{size.depth}")
        trained_s = time.monotonic() - started
        report = evaluate(torch_policy(model), options.archetype, args.scenarios("heldout"),
                          encounters=options.encounters, seed=options.seed + HELDOUT_SEED, progress=False)
        n = len(data.histories)
        sample = data.histories[np.random.default_rng(0).choice(n, min(2048, n), replace=False)]
        stem = f"tt-{size.dim}-{size.depth}"
        export_onnx(model, tmp, stem, sample, min_agreement=0.0)
        files.append(tmp / f"{stem}.fp32.onnx")
        rows.append((size, parameter_count(model), trained_s, report))
        print(f"{size.name}: trained in {trained_s:.0f} s, win rate {report.win_rate:.1%}", flush=True)
    costs = cost_us(files)
    print(f"\n{options.archetype} v{options.version}: {len(data.actions):,} decisions, held-out {options.encounters} "
          "paired encounters each\n")
    print("| temporal_transformer | parameters | train s | win rate | Wilson 95 % | FP32 µs/decision |")
    print("|---|---|---|---|---|---|")
    for (size, params, trained_s, report), us in zip(rows, costs, strict=True):
        print(f"| {size.name} | {params:,} | {trained_s:.0f} | {report.win_rate:.1%} | "
              f"[{report.wilson_low:.1%}, {report.wilson_high:.1%}] "
              f"| {us:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
