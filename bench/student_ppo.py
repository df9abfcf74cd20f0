"""Can a shipped student learn from its own outcomes? PPO fine-tuning on the encounter score (experiment)

    PYTHONPATH=. python bench/student_ppo.py --archetype tank --iterations 150 --out /tmp/student_ppo

Every student so far imitates: the fused network it copies learned the lookahead search's values, and the
search values "this action for 5 ticks, then the traditional AI". Nothing has yet trained a policy on what
the evaluation counts (docs/learning.md, "Win, precisely": the encounter score party_damage + pack_hp).
Here the shipped student (models/shipped/<A>/fused.fp32.onnx, its weights read back from the ONNX file) is
the initial policy of a proximal policy optimisation run (Schulman et al. 2017) on the archetype's train
scenarios:

- the archetype's monsters sample from softmax(logits / --temperature) every tick (as served, 11 outputs,
  the 11th is action 255); the rest of the pack plays the traditional AI;
- reward: the change of the encounter score each tick (x100), the same for every monster of the pack, dead
  ones included until the encounter ends, so dying never cuts a bad future short; the encounter's end is
  the only terminal;
- a critic (a fresh MLP over the same history) is fitted alone for --critic-warmup iterations first, then
  policy and critic learn together with a KL penalty (--kl) towards the shipped student, which keeps the
  policy near what is known to work;
- every --eval-every iterations the argmax policy (as served) plays --encounters validation encounters of
  the train scenarios (the pipeline's validation seed); the best of those is kept. Held-out scenarios are
  played only at the end (--heldout), by the kept policy and by the shipped student, on the 1,000 held-out
  encounters of every table in docs/benchmarks.md; they choose nothing.

With --procedural N the games also play N generated maps (trainers/arena/procedural.py, --procedural-kinds,
balanced as the pipeline's), --procedural-arenas at once each; with --select-maps M the kept policy is chosen
on M other generated maps (another draw, never trained on) instead of the train scenarios, which the policy
learns on and whose win rates have not followed the held-out ones. The maps go to <out>/<A>/scenarios/.

Results go to <out>/<A>/log.jsonl (one line per iteration and per evaluation) and best.pt. Nothing is
registered or shipped.

    PYTHONPATH=. python bench/student_ppo.py --plot curves.png RUN_DIR/A/log.jsonl [...]

draws each run's validation win rate over the iterations, with its held-out results at the end.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from aiworld.mobs.state import ARCHETYPES, HISTORY_LENGTH, STATE_SIZE, output_actions
from trainers.arena import VecArena, load_scenario, procedural
from trainers.common import mlp
from trainers.distill import TRADITIONAL
from trainers.evaluate import HistoryBuffer, evaluate
from trainers.networks import DistilledMLP
from trainers.pipeline import HELDOUT_SEED, PROCEDURAL_BALANCE, VALIDATION_SEED, scenarios_with, torch_policy

REWARD_SCALE = 100.0  # score points per tick are ~0.005: scaled so that returns are of order one
GENERATED_SELECTION = 500  # added to --seed: the draw of the generated maps the kept policy is chosen on
TRAIN_SEED = 70_000  # arena seeds of the training games: other than validation (10,000+) and held-out (30,000+)


def student_from_onnx(path: Path) -> DistilledMLP:
    """The DistilledMLP whose weights the exported file holds (MatMul weights are stored transposed)."""
    import onnx
    from onnx import numpy_helper

    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    model = DistilledMLP(history=HISTORY_LENGTH, hidden=weights["net.0.bias"].shape[0],
                         outputs=weights["net.4.bias"].shape[0])
    state = {}
    for layer in (0, 2, 4):
        state[f"net.{layer}.weight"] = torch.from_numpy(weights[f"/net/net.{layer}/Gemm.matmul_weight"].T.copy())
        state[f"net.{layer}.bias"] = torch.from_numpy(weights[f"net.{layer}.bias"].copy())
    model.load_state_dict(state)
    return model


def critic(hidden: int = 256) -> nn.Module:
    return nn.Sequential(nn.Flatten(1), mlp(HISTORY_LENGTH * STATE_SIZE, (hidden, hidden), 1))


class Games:
    """Arenas of the given scenarios, auto-resetting, with the history of each monster of the archetype."""

    def __init__(self, archetype: str, scenarios: list[tuple[str, int]], seed: int):
        """scenarios: (name or YAML path, arenas played at once) pairs."""
        index = ARCHETYPES.index(archetype)
        self.groups = []
        for i, (name, arenas) in enumerate(scenarios):
            arena = VecArena(load_scenario(name), arenas, seed=seed + 7919 * i, auto_reset=True)
            controlled = np.asarray(arena.archetype[0]) == index
            memory = HistoryBuffer(arena.E, arena.M)
            memory.push(arena.observe())
            self.groups.append((arena, controlled, np.broadcast_to(controlled, (arena.E, arena.M)), memory))
        # one slot per (group, arena, controlled monster), in this order everywhere
        self.slots = sum(int(mask.sum()) for _, _, mask, _ in self.groups)

    def observe(self) -> tuple[np.ndarray, np.ndarray]:
        """Histories float32[slots, 10, 64] and whether each slot's monster is alive (it acts)."""
        histories, alive = [], []
        for arena, _, mask, memory in self.groups:
            histories.append(memory.gather(mask))
            alive.append(arena.alive[mask])
        return np.concatenate(histories), np.concatenate(alive)

    def step(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[float]]:
        """Play one tick with the slots' outputs (0..10; dead slots are ignored). Returns each slot's reward
        (the score change of its arena), whether its encounter ended, and the final scores of ended ones."""
        rewards, dones, finals, start = [], [], [], 0
        for arena, controlled, _, memory in self.groups:
            k = int(controlled.sum())
            mine = outputs[start:start + arena.E * k].reshape(arena.E, k)
            start += arena.E * k
            actions = np.full((arena.E, arena.M), TRADITIONAL, np.int16)
            actions[:, controlled] = np.where(arena.alive[:, controlled], output_actions(mine), TRADITIONAL)
            before = arena.score_prev.copy()
            result = arena.step(actions)
            delta = result.outcome["score"] - before  # auto_reset: the final score on the tick it ends
            rewards.append(np.repeat(delta, k))
            dones.append(np.repeat(result.done, k))
            finals.extend(result.outcome["score"][result.done].tolist())
            if result.done.any():
                memory.reset(result.done)
            memory.push(arena.observe())
        return np.concatenate(rewards).astype(np.float32), np.concatenate(dones), finals


def validate(model: nn.Module, archetype: str, encounters: int, split: str = "train",
             scenarios: list[str] | None = None) -> dict:
    """Paired win rate on the split's scenarios (or on `scenarios`, generated maps, with the validation seed)."""
    seed = 1 + (HELDOUT_SEED if split == "heldout" else VALIDATION_SEED)
    result = evaluate(torch_policy(model.eval()), archetype, scenarios or scenarios_with(archetype, split),
                      encounters, seed, progress=False)
    return {"split": split, "encounters": result.encounters, "win_rate": result.win_rate,
            "wilson": [result.wilson_low, result.wilson_high], "mean_score_ml": result.mean_score_ml,
            "mean_score_traditional": result.mean_score_traditional,
            "per_scenario": {name: row["win_rate"] for name, row in result.per_scenario.items()}}


def plot(png: Path, logs: list[Path]) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5 + 0.35 * len(logs)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for path in logs:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        points = [(r["iteration"], r["eval"]["win_rate"]) for r in rows if "eval" in r]
        summary = next((r["summary"] for r in rows if "summary" in r), {})
        o = summary.get("options", {})
        generated = o.get("procedural") or 0
        label = (f"{o.get('archetype', path.parent.name)} lr {o.get('lr', 0):g} kl {o.get('kl', 0):g}"
                 f"{' (from an earlier run)' if o.get('init') else ''}"
                 f"{f', +{generated} generated maps' if generated else ''}"
                 f"{' (chosen on generated maps)' if o.get('select_maps') else ''}")
        (line,) = ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=f"{label}, validation")
        if "heldout_kept" in summary:
            end = points[-1][0]
            ax.scatter([end + 8], [summary["heldout_kept"]["win_rate"]], marker="*", s=90, color=line.get_color(),
                       label=f"{label}, held out: kept {summary['heldout_kept']['win_rate']:.1%}, shipped "
                             f"{summary['heldout_shipped']['win_rate']:.1%}")
            ax.scatter([end + 8], [summary["heldout_shipped"]["win_rate"]], marker="x", color=line.get_color())
    ax.axhline(0.75, linestyle="--", linewidth=1, color="tab:green", label="75% target")
    ax.set_xlabel("PPO iteration (0: the initial student)")
    ax.set_ylabel("paired win rate vs traditional AI")
    ax.set_title("Students fine-tuned on the encounter score: validation (lines), held out (star kept, x shipped)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, fontsize="x-small")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, format="png", dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", type=Path, help="draw the curves of the given log.jsonl files into this PNG")
    parser.add_argument("logs", type=Path, nargs="*", help="with --plot: the runs' log.jsonl files")
    parser.add_argument("--archetype", choices=ARCHETYPES)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/student_ppo"))
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--arenas", type=int, default=24, help="arenas per train scenario")
    parser.add_argument("--steps", type=int, default=64, help="ticks per rollout")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the logits")
    parser.add_argument("--lr", type=float, default=3e-5, help="policy learning rate")
    parser.add_argument("--critic-lr", type=float, default=1e-3)
    parser.add_argument("--critic-warmup", type=int, default=10, help="iterations fitting the critic alone")
    parser.add_argument("--kl", type=float, default=0.05, help="weight of KL(shipped || policy)")
    parser.add_argument("--clip", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--minibatch", type=int, default=2048)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--lam", type=float, default=0.95)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--encounters", type=int, default=500, help="validation encounters per evaluation")
    parser.add_argument("--heldout", action="store_true", help="at the end, the 1,000 held-out encounters")
    parser.add_argument("--procedural", type=int, default=0,
                        help="generated train maps (trainers/arena/procedural.py, balanced) besides the hand-made")
    parser.add_argument("--procedural-kinds", nargs="+", default=["tunnels", "gate", "crossing"])
    parser.add_argument("--procedural-arenas", type=int, default=6, help="arenas per generated train map")
    parser.add_argument("--select-maps", type=int, default=0,
                        help="choose the kept policy on this many other generated maps (never trained on) "
                             "instead of the hand-made train maps")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--init", type=Path,
                        help="start the policy from this best.pt (the KL anchor stays the shipped student)")
    options = parser.parse_args()
    if options.plot is not None:
        plot(options.plot, options.logs)
        return 0
    if options.archetype is None:
        parser.error("--archetype is required (or --plot)")

    # -- seeding: torch (sampling, minibatches, critic initialisation) and the arenas' seeds
    torch.manual_seed(options.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(options.seed)
    out = options.out / options.archetype
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "log.jsonl").open("w")

    def record(row: dict) -> None:
        log.write(json.dumps(row) + "\n")
        log.flush()

    shipped = student_from_onnx(options.models / "shipped" / options.archetype / "fused.fp32.onnx").eval()
    for p in shipped.parameters():
        p.requires_grad_(False)
    policy = copy.deepcopy(shipped).train()
    if options.init is not None:
        policy.load_state_dict(torch.load(options.init, weights_only=True)["state_dict"])
    for p in policy.parameters():
        p.requires_grad_(True)
    value = critic()
    policy_opt = torch.optim.Adam(policy.parameters(), lr=options.lr)
    value_opt = torch.optim.Adam(value.parameters(), lr=options.critic_lr)
    kinds = procedural.check_kinds(options.procedural_kinds)
    generated = procedural.write(options.archetype, options.procedural, options.seed,
                                 out / "scenarios" / "train", kinds, PROCEDURAL_BALANCE) if options.procedural else []
    # the selection maps: another draw (seed + GENERATED_SELECTION), so no map is both trained on and chosen by
    selection = procedural.write(options.archetype, options.select_maps, options.seed + GENERATED_SELECTION,
                                 out / "scenarios" / "selection", kinds,
                                 PROCEDURAL_BALANCE) if options.select_maps else []
    split = "generated" if selection else "train"
    played = [(name, options.arenas) for name in scenarios_with(options.archetype, "train")]
    played += [(path, options.procedural_arenas) for path in generated]
    games = Games(options.archetype, played, TRAIN_SEED + 1000 * options.seed)
    S, T = games.slots, options.steps
    chosen_on = f"{len(selection)} other generated maps" if selection else "the hand-made train maps"
    print(f"{options.archetype}: {len(games.groups)} train scenarios ({len(generated)} generated), {S} slots, {T} "
          f"ticks per rollout; the kept policy is chosen on {chosen_on}", flush=True)

    best = validate(policy, options.archetype, options.encounters, split, selection)
    best_state, best_iteration = copy.deepcopy(policy.state_dict()), 0
    record({"iteration": 0, "eval": best})
    print(f"initial policy: validation {best['win_rate']:.3f}", flush=True)
    started = time.perf_counter()
    recent: list[float] = []
    for iteration in tqdm(range(1, options.iterations + 1), desc=f"{options.archetype} ppo", unit="it"):
        # float16 as the distillation's data: the update reads the histories rounded (within 0.00025) where
        # the rollout read them exact, so the first epoch's ratios are not exactly 1
        obs = np.zeros((T, S, HISTORY_LENGTH, STATE_SIZE), np.float16)
        acting = np.zeros((T, S), bool)
        actions = np.zeros((T, S), np.int64)
        logps = np.zeros((T, S), np.float32)
        values = np.zeros((T + 1, S), np.float32)
        rewards = np.zeros((T, S), np.float32)
        dones = np.zeros((T, S), bool)
        policy.eval()
        with torch.no_grad():
            for t in range(T):
                histories, alive = games.observe()
                x = torch.from_numpy(histories)
                dist = torch.distributions.Categorical(logits=policy(x) / options.temperature)
                chosen = dist.sample()
                obs[t], acting[t], actions[t] = histories, alive, chosen.numpy()
                logps[t] = dist.log_prob(chosen).numpy()
                values[t] = value(x).squeeze(1).numpy()
                rewards[t], dones[t], finals = games.step(chosen.numpy())
                recent = (recent + finals)[-500:]
            values[T] = value(torch.from_numpy(games.observe()[0])).squeeze(1).numpy()
        rewards *= REWARD_SCALE
        # generalised advantage estimation; only the end of an encounter is terminal
        advantages = np.zeros((T, S), np.float32)
        running = np.zeros(S, np.float32)
        for t in reversed(range(T)):
            live = 1.0 - dones[t]
            delta = rewards[t] + options.gamma * values[t + 1] * live - values[t]
            running = delta + options.gamma * options.lam * live * running
            advantages[t] = running
        returns = advantages + values[:T]

        flat_obs = torch.from_numpy(obs.reshape(T * S, HISTORY_LENGTH, STATE_SIZE))
        flat_act = torch.from_numpy(actions.reshape(-1))
        flat_logp = torch.from_numpy(logps.reshape(-1))
        flat_adv = torch.from_numpy(advantages.reshape(-1))
        flat_ret = torch.from_numpy(returns.reshape(-1))
        flat_acting = torch.from_numpy(acting.reshape(-1))
        learn_policy = iteration > options.critic_warmup
        policy.train()
        stats = {"value_loss": [], "kl_shipped": [], "clip_frac": [], "entropy": []}
        for _ in range(options.epochs):
            order = torch.from_numpy(rng.permutation(T * S))
            for start in range(0, T * S, options.minibatch):
                rows = order[start:start + options.minibatch]
                x = flat_obs[rows].float()
                v_loss = ((value(x).squeeze(1) - flat_ret[rows]) ** 2).mean()
                value_opt.zero_grad()
                v_loss.backward()
                nn.utils.clip_grad_norm_(value.parameters(), 1.0)
                value_opt.step()
                stats["value_loss"].append(v_loss.item())
                rows = rows[flat_acting[rows]]
                if not learn_policy or len(rows) < 2:
                    continue
                x = flat_obs[rows].float()
                logits = policy(x) / options.temperature
                logp_all = torch.log_softmax(logits, dim=1)
                logp = logp_all.gather(1, flat_act[rows, None]).squeeze(1)
                ratio = torch.exp(logp - flat_logp[rows])
                adv = flat_adv[rows]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                surrogate = torch.max(-adv * ratio, -adv * ratio.clamp(1 - options.clip, 1 + options.clip)).mean()
                with torch.no_grad():
                    anchor = torch.log_softmax(shipped(x) / options.temperature, dim=1)
                kl = (anchor.exp() * (anchor - logp_all)).sum(dim=1).mean()
                loss = surrogate + options.kl * kl
                policy_opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
                policy_opt.step()
                stats["kl_shipped"].append(kl.item())
                stats["clip_frac"].append(((ratio - 1).abs() > options.clip).float().mean().item())
                stats["entropy"].append(-(logp_all.exp() * logp_all).sum(dim=1).mean().item())
        row = {"iteration": iteration, "seconds": round(time.perf_counter() - started, 1),
               "mean_final_score": float(np.mean(recent)) if recent else None,
               "acting": int(acting.sum()), **{k: float(np.mean(v)) if v else None for k, v in stats.items()}}
        if iteration % options.eval_every == 0 or iteration == options.iterations:
            row["eval"] = validate(policy, options.archetype, options.encounters, split, selection)
            if row["eval"]["win_rate"] > best["win_rate"]:
                best, best_state, best_iteration = row["eval"], copy.deepcopy(policy.state_dict()), iteration
            torch.save({"state_dict": best_state, "iteration": best_iteration}, out / "best.pt")
            print(f"it {iteration}: validation {row['eval']['win_rate']:.3f} (best {best['win_rate']:.3f} at "
                  f"{best_iteration}), kl {row['kl_shipped']}, score {row['mean_final_score']}", flush=True)
        record(row)
    summary = {"best_iteration": best_iteration, "best_validation": best, "options": {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()}}
    if options.heldout:
        kept = copy.deepcopy(shipped)
        kept.load_state_dict(best_state)
        # the same weights play the same encounters alike: when the kept policy is the shipped student, once
        same = best_iteration == 0 and options.init is None

        def both(*how) -> tuple[dict, dict]:
            mine = validate(kept, options.archetype, *how)
            return mine, mine if same else validate(shipped, options.archetype, *how)

        summary["heldout_kept"], summary["heldout_shipped"] = both(1000, "heldout")
        if selection:  # the hand-made train maps too, for comparison with the runs chosen on them
            summary["train_kept"], summary["train_shipped"] = both(options.encounters)
        print(f"held out: kept {summary['heldout_kept']['win_rate']:.3f}, shipped "
              f"{summary['heldout_shipped']['win_rate']:.3f}", flush=True)
    record({"summary": summary})
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
