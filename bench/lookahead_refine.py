"""Can the lookahead search improve a shipped student on the student's own games? (AggreVaTe-style refinement)

    PYTHONPATH=. python bench/lookahead_refine.py collect --archetype tank --batches 60
    PYTHONPATH=. python bench/lookahead_refine.py fit --archetype tank [--heldout]

collect: the shipped student (models/shipped/<A>/fused.fp32.onnx) plays the archetype's train scenarios,
16 encounters per batch, one scenario per batch in turn, deciding every 5 ticks as the lookahead teacher does;
at each of its decisions the search (trainers/lookahead.py, two plays per candidate) values all 11 candidates.
Those are the states the student itself meets (DAgger's point), labelled with what each choice is worth, so a
student can be taught by the cost of its mistakes (expected regret, Ross & Bagnell 2014, "AggreVaTe") instead
of by imitating another network's outputs. One file per batch under --data; batch i always uses seed
1000 * --seed + i, so --batches N repeats the first N batches exactly.

`--continuation student`: in the search's copies the archetype's monsters play the shipped student
every tick, as served, instead of the traditional AI: the deciding one after its candidate's 5-tick hold, the
others throughout (trainers/lookahead.py Continuation). Each value is then what the candidate is worth if the
student plays on, so the best candidate is one step of policy improvement over the student, not over the
traditional AI (approximate policy iteration). The same --seed plays the same games and labels the same states
as the default teacher (the search draws the same numbers either way): the two label sets pair decision by
decision.

fit: students trained on those decisions (5 % kept out; where --models lacks the distillation's weights, as a
checkout does, the warm variants start from the shipped fused.fp32.onnx, which holds the same weights), each
reported by the mean regret of its argmax on the kept-out decisions (the search's best value minus the value of the
student's choice) and by its win rate on 1,000 validation encounters of the train scenarios (the pipeline's
validation seed), next to the shipped student's on the same encounters; --heldout adds the 1,000 held-out
encounters of every table in docs/benchmarks.md. Variants:
- `mse`: a fresh MLP regressing the centred values (what the pipeline's supervised members do);
- `warm_mse`: the shipped student's weights, the same regression;
- `warm_regret`: the shipped student's weights, trained to lower its expected regret under its own softmax;
- `warm_regret_anchor`: as warm_regret, plus the distillation's loss on its own data (the teacher's logits), so
  that the states the search did not label keep their answers.
Nothing is registered or shipped.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from aiworld.mobs.state import output_actions
from trainers import lookahead
from trainers.distill import onnx_teacher
from trainers.evaluate import evaluate
from trainers.networks import DistilledMLP
from trainers.pipeline import HELDOUT_SEED, VALIDATION_SEED, scenarios_with, torch_policy

VARIANTS = ("mse", "warm_mse", "warm_regret", "warm_regret_anchor")
VALUE_SCALE = 5.0  # logits per unit of normalised value in the regression variants


def collect(options: argparse.Namespace) -> None:
    out = options.data / options.archetype
    out.mkdir(parents=True, exist_ok=True)
    shipped = options.models / "shipped" / options.archetype / "fused.fp32.onnx"
    student, _ = onnx_teacher(shipped)

    def choose(histories: np.ndarray) -> np.ndarray:  # output indices, 10 = 255
        return student(histories).argmax(axis=1)

    # the continuation plays the same network, as action ids (trainers.evaluate's policy signature)
    follow = (lambda states, histories: output_actions(choose(histories))) if options.continuation == "student" \
        else None
    scenarios = scenarios_with(options.archetype, "train")
    started, total = time.perf_counter(), 0
    for i in range(options.batches):
        path = out / f"batch_{i:04d}.npz"
        if path.exists():  # a rerun continues
            continue
        args = lookahead.LookaheadArgs(arenas=16, continuations=2, seed=options.seed * 1000 + i)
        found = lookahead.collect(options.archetype, [scenarios[i % len(scenarios)]], 1, args, progress=False,
                                  behaviour=choose,
                                  continuation_policy=follow)
        np.savez(path, **found)
        total += len(found["values"])
        print(f"{time.perf_counter() - started:7.0f} s  batch {i + 1}/{options.batches} "
              f"{scenarios[i % len(scenarios)]}: {len(found['values'])} decisions ({total} this run)", flush=True)


def _student(path: Path | None) -> DistilledMLP:
    """A fresh student (None), or one from the distillation's weights (.pt) or from a served file (.onnx)."""
    if path is not None and path.suffix == ".onnx":
        from bench.student_ppo import student_from_onnx

        return student_from_onnx(path)
    model = DistilledMLP(history=10, hidden=256, outputs=11)
    if path is not None:
        model.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    return model


def fit(options: argparse.Namespace) -> None:
    # -- seeding: the split, each variant's initialisation and its batches
    torch.manual_seed(options.seed)
    torch.set_num_threads(1)
    files = sorted((options.data / options.archetype).glob("batch_*.npz"))
    parts = [np.load(f) for f in files]
    x = torch.from_numpy(np.concatenate([p["histories"] for p in parts]).astype(np.float16))
    values = np.concatenate([p["values"] for p in parts]).astype(np.float32)
    regret = values.max(axis=1, keepdims=True) - values
    gap = float(regret.max(axis=1).mean())  # the mean spread between the best and the worst candidate
    scaled = torch.from_numpy(regret / gap)
    order = np.random.default_rng(options.seed).permutation(len(values))
    kept, train = order[: len(order) // 20], order[len(order) // 20:]
    weights = options.student or (options.models / options.archetype / f"v{options.version}" / "distill"
                                  / "student_2.pt")
    if not weights.exists():  # a checkout holds only the served files; their weights are the same
        weights = options.models / "shipped" / options.archetype / "fused.fp32.onnx"
    if "warm_regret_anchor" in options.variants and not (weights.parent / "data_2.npz").exists():
        raise SystemExit(f"warm_regret_anchor needs the distillation's data_2.npz beside {weights}: "
                         "leave that variant out")
    anchor = None
    scenarios = scenarios_with(options.archetype, "train")
    held_out = scenarios_with(options.archetype, "heldout")
    print(f"{options.archetype}: {len(files)} batches, {len(values)} decisions, mean best-worst spread {gap:.4f}",
          flush=True)

    def report(name: str, model: DistilledMLP, extra: dict) -> None:
        model.eval()
        with torch.no_grad():
            chosen = model(x[kept].float()).argmax(dim=1).numpy()
        row = {"variant": name, "kept_out_regret": float(regret[kept, chosen].mean()),
               "share_255": float((chosen == 10).mean()), **extra}
        play = torch_policy(model)
        row["validation"] = evaluate(play, options.archetype, scenarios, options.encounters, 1 + VALIDATION_SEED,
                                     progress=False).win_rate
        if options.heldout:
            result = evaluate(play, options.archetype, held_out, options.encounters, 1 + HELDOUT_SEED, progress=False)
            row.update(heldout=result.win_rate, heldout_wilson=[result.wilson_low, result.wilson_high])
        print(json.dumps(row), flush=True)

    report("shipped", _student(weights), {})
    for name in options.variants:
        torch.manual_seed(options.seed)
        warm = name.startswith("warm")
        model = _student(weights if warm else None)
        lr = options.warm_lr if warm else options.lr
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        if name == "warm_regret_anchor" and anchor is None:
            saved = np.load(weights.parent / "data_2.npz")  # the distillation's decisions and teacher logits
            anchor = torch.from_numpy(saved["histories"]), torch.from_numpy(saved["targets"])
        started = time.perf_counter()
        rng = np.random.default_rng(options.seed)
        for epoch in range(options.epochs):
            for group in optimizer.param_groups:  # constant, then halved each epoch of the second half
                group["lr"] = lr * 0.5 ** max(0, epoch - options.epochs // 2)
            model.train()
            shuffled = rng.permutation(train)
            for start in range(0, len(shuffled), 512):
                rows = torch.from_numpy(shuffled[start:start + 512])
                out = model(x[rows].float())
                if name.endswith("mse"):  # centred values as logits, VALUE_SCALE per normalised unit
                    target = -scaled[rows]
                    target = VALUE_SCALE * (target - target.mean(dim=1, keepdim=True))
                    loss = ((out - out.mean(dim=1, keepdim=True) - target) ** 2).mean()
                else:  # expected regret of the student's own softmax policy
                    loss = (torch.softmax(out, dim=1) * scaled[rows]).sum(dim=1).mean()
                if anchor is not None and name == "warm_regret_anchor":
                    pick = torch.from_numpy(rng.integers(0, len(anchor[0]), 512))
                    other = model(anchor[0][pick].float())
                    loss = loss + ((other - other.mean(dim=1, keepdim=True) - anchor[1][pick]) ** 2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        report(name, model, {"seconds": round(time.perf_counter() - started)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("collect", "fit"))
    parser.add_argument("--archetype", required=True)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--data", type=Path, default=Path("/tmp/lookahead_refine"))
    parser.add_argument("--batches", type=int, default=60, help="collect: batches of 16 encounters")
    parser.add_argument("--continuation", choices=("traditional", "student"), default="traditional",
                        help="collect: who plays the search's copies after a candidate's hold (student: the "
                             "shipped student every tick, so the values are one improvement step over it)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--version", type=int, default=10, help="fit: the shipped student's version")
    parser.add_argument("--student", type=Path, help="fit: its weights, .pt or a served .onnx (default: that "
                        "version's last distillation round, else the shipped fused.fp32.onnx)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3, help="a fresh student's learning rate")
    parser.add_argument("--warm-lr", type=float, default=2e-4, help="a warm-started student's learning rate")
    parser.add_argument("--encounters", type=int, default=1000)
    parser.add_argument("--heldout", action="store_true", help="also play the held-out scenarios")
    options = parser.parse_args()
    collect(options) if options.command == "collect" else fit(options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
