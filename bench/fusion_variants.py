"""Two changes to a trained fusion that need no training, on validation and held-out encounters.

    PYTHONPATH=. python bench/fusion_variants.py bias --archetype mage --version 4 --biases 0,0.5,1,2 --split train
    PYTHONPATH=. python bench/fusion_variants.py ensemble --archetype mage --sets 4,4+5,4+5+6+7 --split heldout

- `bias`: b added to the fused network's 255 output (log-probability). b > 0 hands the monster to the
  traditional AI unless another action is e^b times as likely: for a single value-regressing member, unless its
  value beats 255's by b * VALUE_SCALE score points. b < 0 hands over less.
- `ensemble`: the mean of the probabilities of several versions' fused networks (each as its fusion.json
  chose), e.g. 4+5+6+7.

Seeds are the pipeline's: validation (split train) is seed + 10,000, as the fusion selection uses; held-out is
seed + 30,000, the encounters `manage.py evaluate` plays. The torch networks play (FP32), not the ONNX files.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from aiworld.mobs.state import ARCHETYPES
from trainers import pipeline
from trainers.evaluate import evaluate
from trainers.fusion import FusedPolicy
from trainers.pipeline import PipelineArgs

SPLIT_SEED = {"train": pipeline.VALIDATION_SEED, "heldout": pipeline.HELDOUT_SEED}


class HandoverBias(nn.Module):
    """A fused network with `bias` added to its 255 output."""

    input_kind = "history"

    def __init__(self, fused: nn.Module, bias: float):
        super().__init__()
        self.fused, self.bias = fused, bias

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        out = self.fused(history).clone()
        out[:, -1] += self.bias
        return out


def version_fusion(models: Path, archetype: str, version: int) -> nn.Module:
    args = PipelineArgs(archetype=archetype, version=version, out_root=models, progress=False)
    return pipeline.fused(args, json.loads((args.out_dir / "fusion.json").read_text())["weights"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("bias", "ensemble"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--archetype", required=True, choices=ARCHETYPES)
    parser.add_argument("--version", type=int, help="bias: the version whose fusion is biased")
    parser.add_argument("--biases", default="0", help="bias: comma-separated values of b")
    parser.add_argument("--sets", default="", help="ensemble: comma-separated version sets, e.g. 4,4+5")
    parser.add_argument("--split", choices=tuple(SPLIT_SEED), default="train")
    parser.add_argument("--scenarios", default="", help="comma-separated scenario names (default: the split's "
                        "scenarios holding the archetype)")
    parser.add_argument("--encounters", type=int, default=512)
    parser.add_argument("--seed", type=int, default=1, help="the pipeline's seed (PipelineArgs.seed)")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",") if args.scenarios else pipeline.scenarios_with(args.archetype, args.split)
    seed = args.seed + SPLIT_SEED[args.split]
    if args.kind == "bias":
        if args.version is None:
            parser.error("bias needs --version")
        fused = version_fusion(args.models, args.archetype, args.version)
        variants = {f"v{args.version} b={b}": HandoverBias(fused, float(b)) for b in args.biases.split(",")}
    else:
        sets = [[int(v) for v in s.split("+")] for s in args.sets.split(",") if s]
        if not sets:
            parser.error("ensemble needs --sets")
        nets = {v: version_fusion(args.models, args.archetype, v) for s in sets for v in s}
        variants = {"+".join(f"v{v}" for v in s): FusedPolicy({f"v{v}": nets[v] for v in s}, {f"v{v}": 1.0 for v in s})
                    for s in sets}
    for name, module in variants.items():
        started = time.perf_counter()
        report = evaluate(pipeline.torch_policy(module.eval()), args.archetype, scenarios, encounters=args.encounters,
                          seed=seed, progress=False)
        print(json.dumps({"archetype": args.archetype, "variant": name, "split": args.split,
                          "encounters": args.encounters, "win_rate": report.win_rate,
                          "seconds": round(time.perf_counter() - started)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
