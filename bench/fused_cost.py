"""Inference cost per decision of two sets of fused networks, alternated in one run (the machine is shared).

    mkdir -p /tmp/v1 && for a in aggressive defensive support mage tank ranged; do mkdir -p /tmp/v1/$a; \\
        git show 9e0379e:models/shipped/$a/fused.fp32.onnx > /tmp/v1/$a/fused.fp32.onnx; done
    python bench/fused_cost.py --old /tmp/v1 --new models/shipped

Each folder holds <archetype>/fused.<precision>.onnx; the INT8 file is used where present (what a CPU worker
serves), else FP32. One onnxruntime thread, a batch of 500 random histories, median of 30 alternated runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ARCHETYPES = ("aggressive", "defensive", "support", "mage", "tank", "ranged")


def served(folder: Path) -> tuple[ort.InferenceSession, str]:
    precision = "int8" if (folder / "fused.int8.onnx").exists() else "fp32"
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(folder / f"fused.{precision}.onnx"), sess_options=options,
                                providers=["CPUExecutionProvider"]), precision


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True)
    parser.add_argument("--new", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    x = np.random.default_rng(0).random((args.batch, 10, 64), dtype=np.float32)
    print("| archetype | old µs/decision | new µs/decision | new / old |\n|---|---|---|---|")
    for archetype in ARCHETYPES:
        sessions = {side: served(root / archetype) for side, root in (("old", args.old), ("new", args.new))}
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(3):  # warm-up
            for session, _precision in sessions.values():
                session.run(None, {session.get_inputs()[0].name: x})
        for _ in range(args.runs):
            for side, (session, _precision) in sessions.items():
                started = time.perf_counter()
                session.run(None, {session.get_inputs()[0].name: x})
                times[side].append(time.perf_counter() - started)
        old, new = (float(np.median(times[s])) / args.batch * 1e6 for s in ("old", "new"))
        print(f"| {archetype} | {old:.2f} ({sessions['old'][1]}) | {new:.2f} ({sessions['new'][1]}) | "
              f"{new / old:.1f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
