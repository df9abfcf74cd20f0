"""How often does a served fused network hand its monster to the traditional AI (action 255)?

    PYTHONPATH=. python bench/handover_share.py models/ --version 3 --encounters 64

Plays each archetype's served fused file (INT8 if the version's summary says it was evaluated in INT8, else
FP32) on held-out encounters, as trainers/evaluate.py does, and counts the decisions that are 255.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from aiworld.mobs.state import ARCHETYPES, Action
from trainers.evaluate import evaluate, onnx_policy
from trainers.pipeline import scenarios_with


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--archetypes", nargs="+", default=list(ARCHETYPES), choices=ARCHETYPES)
    parser.add_argument("--encounters", type=int, default=64)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    for archetype in args.archetypes:
        folder = args.models / archetype / f"v{args.version}"
        precision = json.loads((folder / "summary.json").read_text())["evaluation"]["precision"]
        served = onnx_policy(folder / f"fused.{precision}.onnx")
        decided: list[np.ndarray] = []

        def policy(states: np.ndarray, histories: np.ndarray, served=served, decided=decided) -> np.ndarray:
            actions = served(states, histories)
            decided.append(actions)
            return actions

        evaluate(policy, archetype, scenarios_with(archetype, "heldout"), args.encounters, seed=args.seed,
                 progress=False)
        actions = np.concatenate(decided)
        share = float((actions == Action.TRADITIONAL_AI).mean())
        print(f"{archetype} {precision} share 255 {share:.3f} decisions {len(actions)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
