"""Can a shipped student learn the evaluation's own count, as served? Evolution strategies on the argmax policy

    PYTHONPATH=. python bench/student_es.py --archetype tank --params head --generations 60 --out /tmp/student_es

Every change to the students so far either imitated the lookahead search or (bench/student_ppo.py) trained a
sampling policy (softmax at temperature 0.05) on the encounter score, while the evaluation plays the argmax and
counts paired wins. Here nothing is sampled and nothing is differentiated: natural evolution strategies
(Salimans et al. 2017, antithetic pairs, centred ranks, Adam) perturb the shipped student's weights and
score every perturbed student by what docs/learning.md ("Win, precisely") counts, on the archetype's train
scenarios:

- fitness: paired wins against the traditional pack (score higher by more than 0.01), plus 0.1 × the mean
  score difference so that near-ties still order the members;
- common random numbers: each generation plays the same encounters for every member, and every member's
  copy of an encounter sees the same dice tick for tick (`tiled`: one random block drawn per encounter and
  repeated for every copy), so two members differ only where their policies differ. The traditional pack is
  one more copy;
- --params: which weights move. `bias`: the 11 output biases (a low-capacity change that cannot learn a new
  map, only shift the choice between actions); `head`: the output layer (hidden × 11 + 11); `all`: every
  weight. Perturbations are in units of each tensor's standard deviation (`bias`: of 0.1 logit, the
  students' median gap between their two best outputs);
- every --eval-every generations the centre (the current weights, argmax, as served) plays the validation
  encounters of the train scenarios (the pipeline's validation seed, as student_ppo.py) and the best is kept.
  Held-out scenarios are played only at the end (--heldout), by the kept weights and the shipped student, on
  the 1,000 held-out encounters of every table in docs/benchmarks.md, and head to head (the promotion rule);
  they choose nothing.

Results go to <out>/<A>/log.jsonl (a line per generation and per evaluation), best.pt and summary.json.
Nothing is registered or shipped.

    PYTHONPATH=. python bench/student_es.py --plot curves.png RUN_DIR/A/log.jsonl [...]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from aiworld.mobs.state import ARCHETYPES, output_actions
from trainers.arena import VecArena, load_scenario
from trainers.arena.units import NR
from trainers.evaluate import TRADITIONAL, WIN_MARGIN, HistoryBuffer, compare
from trainers.networks import DistilledMLP
from trainers.pipeline import HEAD_TO_HEAD_SEED, scenarios_with, torch_policy

ES_SEED = 90_000  # arena seeds of the generations: other than validation (10,000+), held out (30,000+), PPO (70,000+)
SCORE_WEIGHT = 0.1  # the mean score difference's weight in the fitness, beside the win rate
BIAS_UNIT = 0.1  # logit: the students' median gap between their two best outputs (bench/student_ppo.py)
PARAMS = ("bias", "head", "all")


# -- common random numbers ---------------------------------------------------------------------------

class _Tiled(VecArena):
    """A VecArena of `copies` blocks of `base` arenas whose dice repeat block after block."""

    base: int
    copies: int

    def _draw(self) -> None:
        block = self.rng.random((NR, self.base, self.U), dtype=np.float32)
        self._u = np.tile(block, (1, self.copies, 1))


def tiled(scenario: str, encounters: int, copies: int, seed: int) -> VecArena:
    """`copies` bit-identical copies of `encounters` fresh encounters (arena c * encounters + j is copy c of
    encounter j) that see the same dice every tick whatever their actions. No auto_reset."""
    first = VecArena(load_scenario(scenario), encounters, seed=seed, auto_reset=False)
    arena = first.clone_rows(np.tile(np.arange(encounters), copies), seed=seed + 1)
    arena.__class__ = _Tiled
    arena.base, arena.copies = encounters, copies
    return arena


# -- the students: one forward per member ------------------------------------------------------------

@dataclass
class Weights:
    """A DistilledMLP's three layers as numpy arrays (x @ w + b)."""

    w: list[np.ndarray]
    b: list[np.ndarray]
    history: int

    @classmethod
    def of(cls, model: DistilledMLP) -> Weights:
        layers = [m for m in model.net if isinstance(m, torch.nn.Linear)]
        return cls([m.weight.detach().numpy().T.astype(np.float32).copy() for m in layers],
                   [m.bias.detach().numpy().astype(np.float32).copy() for m in layers], model.history)

    def hidden(self, histories: np.ndarray) -> np.ndarray:
        """The last hidden layer's activations of float32[N, 10, 64] histories."""
        h = histories[:, -self.history:].reshape(len(histories), -1)
        for w, b in zip(self.w[:-1], self.b[:-1], strict=True):
            h = np.maximum(h @ w + b, 0.0)
        return h

    def logits(self, histories: np.ndarray) -> np.ndarray:
        return self.hidden(histories) @ self.w[-1] + self.b[-1]

    def to_model(self, template: DistilledMLP) -> DistilledMLP:
        model = copy.deepcopy(template)
        layers = [m for m in model.net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for m, w, b in zip(layers, self.w, self.b, strict=True):
                m.weight.copy_(torch.from_numpy(w.T.copy()))
                m.bias.copy_(torch.from_numpy(b.copy()))
        return model.eval()


class Space:
    """The weights that move (--params), flattened, in units of each tensor's scale: z = (θ − θ₀) / scale."""

    def __init__(self, base: Weights, params: str):
        if params not in PARAMS:
            raise ValueError(f"params must be one of {PARAMS}, got {params!r}")
        self.base, self.params = base, params
        last = len(base.w) - 1
        if params == "bias":
            self.tensors = [("b", last, BIAS_UNIT)]
        elif params == "head":
            self.tensors = [("w", last, float(base.w[last].std())), ("b", last, float(base.b[last].std()))]
        else:
            self.tensors = [(kind, i, float(getattr(base, kind)[i].std()))
                            for i in range(len(base.w)) for kind in ("w", "b")]
        self.sizes = [getattr(base, kind)[i].size for kind, i, _ in self.tensors]
        self.size = int(sum(self.sizes))

    def weights(self, z: np.ndarray) -> Weights:
        out = Weights([w.copy() for w in self.base.w], [b.copy() for b in self.base.b], self.base.history)
        start = 0
        for (kind, i, scale), n in zip(self.tensors, self.sizes, strict=True):
            tensor = getattr(out, kind)[i]
            tensor += (scale * z[start:start + n]).reshape(tensor.shape).astype(np.float32)
            start += n
        return out

    def shares_hidden(self) -> bool:
        """Only the output layer moves: every member shares the hidden activations."""
        return self.params != "all"


def play_members(members: list[Weights], share_hidden: bool, archetype: str, scenario: str, encounters: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every member and the traditional pack (the last copy) on the same `encounters` encounters with the same
    dice. Returns the scores float64[members + 1, encounters] and whether the archetype had a monster there."""
    copies = len(members) + 1
    arena = tiled(scenario, encounters, copies, seed)
    E, M = arena.archetype.shape
    index = ARCHETYPES.index(archetype)
    owner = np.repeat(np.arange(copies), encounters)  # arena -> member (copies - 1: traditional)
    controlled_at_start = (arena.archetype == index).any(axis=1)
    memory = HistoryBuffer(E, M)
    finished = np.zeros(E, bool)
    score = np.zeros(E, np.float64)
    actions = np.full((E, M), TRADITIONAL, np.int16)
    for _ in range(100_000):
        actions.fill(TRADITIONAL)
        states = arena.observe()
        memory.push(states)
        acting = (arena.archetype == index) & arena.alive & ~finished[:, None] & (owner < copies - 1)[:, None]
        if acting.any():
            rows, _ = np.nonzero(acting)
            histories = memory.gather(acting)
            who = owner[rows]
            outputs = np.empty(len(rows), np.int64)
            shared = members[0].hidden(histories) if share_hidden else None
            for m in np.unique(who):
                mine = who == m
                w = members[m]
                logits = (shared[mine] @ w.w[-1] + w.b[-1]) if share_hidden else w.logits(histories[mine])
                outputs[mine] = logits.argmax(axis=1)
            actions[acting] = output_actions(outputs)
        step = arena.step(actions)
        ended = np.asarray(step.done, bool) & ~finished
        score[ended] = np.asarray(step.outcome["score"], np.float64)[ended]
        finished |= ended
        memory.reset(ended)
        if finished.all():
            break
    else:
        raise RuntimeError("encounters still running after 100,000 ticks")
    return score.reshape(copies, encounters), controlled_at_start[:encounters]


def fitness(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per member (rows but the last, the traditional pack): (fitness, win rate) over the encounters."""
    diff = scores[:-1] - scores[-1]
    wins = (diff > WIN_MARGIN).mean(axis=1)
    return wins + SCORE_WEIGHT * diff.mean(axis=1), wins


def centred_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks scaled to [-0.5, 0.5] (ties share the order they come in): the ES fitness shaping."""
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks / max(len(values) - 1, 1) - 0.5


class Adam:
    def __init__(self, size: int, lr: float, beta1: float = 0.9, beta2: float = 0.999):
        self.m, self.v, self.t = np.zeros(size), np.zeros(size), 0
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2

    def step(self, gradient: np.ndarray) -> np.ndarray:
        """The step to add (ascent)."""
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * gradient
        self.v = self.beta2 * self.v + (1 - self.beta2) * gradient ** 2
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        return self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def generation(space: Space, z: np.ndarray, noise: np.ndarray, sigma: float, archetype: str,
               scenarios: list[str], encounters: int, seed: int) -> dict:
    """Play the centre and the antithetic members z ± σ·noise[k] on every scenario; the ES gradient in z."""
    members = [space.weights(z)] + [space.weights(z + sign * sigma * eps) for eps in noise for sign in (1, -1)]
    scores = []
    for i, name in enumerate(scenarios):
        s, has = play_members(members, space.shares_hidden(), archetype, name, encounters, seed + 7919 * i)
        scores.append(s[:, has])
    fit, wins = fitness(np.concatenate(scores, axis=1))
    shaped = centred_ranks(fit[1:]).reshape(len(noise), 2)
    gradient = ((shaped[:, 0] - shaped[:, 1])[:, None] * noise).sum(axis=0) / (len(noise) * sigma)
    return {"gradient": gradient, "centre_win_rate": float(wins[0]), "centre_fitness": float(fit[0]),
            "members_win_rate": [float(w) for w in wins[1:]], "members_fitness": [float(f) for f in fit[1:]],
            "encounters": int(sum(s.shape[1] for s in scores))}


def validate(model: DistilledMLP, archetype: str, encounters: int, split: str = "train") -> dict:
    from bench.student_ppo import validate as ppo_validate

    return ppo_validate(model, archetype, encounters, split)


# -- plots -------------------------------------------------------------------------------------------

def _summary_of(log: Path) -> dict:
    """The run's summary: summary.json beside a log.jsonl, <name>_summary.json beside <name>.jsonl; {} if none."""
    beside = log.parent / "summary.json" if log.name == "log.jsonl" else log.with_name(f"{log.stem}_summary.json")
    return json.loads(beside.read_text()) if beside.exists() else {}


def plot(png: Path, logs: list[Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for path in logs:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        label = rows[0].get("run", path.parent.name) if rows and path.name == "log.jsonl" else path.stem
        train = [(r["generation"], r["centre_win_rate"]) for r in rows if "centre_win_rate" in r]
        evals = [(r["generation"], r["eval"]["win_rate"]) for r in rows if "eval" in r]
        if train:
            line, = ax.plot(*zip(*train, strict=True), alpha=0.35, label=f"{label}: centre, generation's encounters")
            if evals:
                ax.plot(*zip(*evals, strict=True), "o-", color=line.get_color(), label=f"{label}: validation (500)")
            held = _summary_of(path).get("heldout_kept")
            if held:
                ax.plot([train[-1][0]], [held["win_rate"]], "*", ms=13, color=line.get_color(),
                        label=f"{label}: kept, held out (1,000)")
    ax.axhline(0.75, ls="--", lw=0.8, color="grey", label="target held out (75 %)")
    ax.set_xlabel("generation")
    ax.set_ylabel("win rate against the traditional pack")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110, bbox_inches="tight")
    plt.close(fig)


# -- main --------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", type=Path, help="draw the curves of the given log.jsonl files into this PNG")
    parser.add_argument("logs", type=Path, nargs="*", help="with --plot: the runs' log.jsonl files")
    parser.add_argument("--archetype", choices=ARCHETYPES)
    parser.add_argument("--onnx", type=Path, help="the student to start from (default: the shipped fused.fp32.onnx)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/student_es"))
    parser.add_argument("--params", choices=PARAMS, default="head", help="which weights move")
    parser.add_argument("--generations", type=int, default=60)
    parser.add_argument("--pairs", type=int, default=10, help="antithetic pairs per generation")
    parser.add_argument("--sigma", type=float, default=0.1, help="perturbation, in units of each tensor's scale")
    parser.add_argument("--lr", type=float, default=0.02, help="Adam step, in the same units")
    parser.add_argument("--per-scenario", type=int, default=12, help="encounters per train scenario and generation")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--encounters", type=int, default=500, help="validation encounters per evaluation")
    parser.add_argument("--heldout", action="store_true", help="at the end, the 1,000 held-out encounters")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    if options.plot is not None:
        plot(options.plot, options.logs)
        return 0
    if options.archetype is None:
        parser.error("--archetype is required (or --plot)")

    # -- seeding: the noise directions and the generations' encounters
    torch.set_num_threads(1)
    rng = np.random.default_rng(options.seed)
    out = options.out / options.archetype
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "log.jsonl").open("w")
    run = f"{options.archetype} {options.params} σ{options.sigma} lr{options.lr} seed {options.seed}"

    def record(row: dict) -> None:
        log.write(json.dumps({"run": run, **row}) + "\n")
        log.flush()

    from bench.student_ppo import student_from_onnx

    source = options.onnx or Path("models/shipped") / options.archetype / "fused.fp32.onnx"
    shipped = student_from_onnx(source).eval()
    space = Space(Weights.of(shipped), options.params)
    scenarios = scenarios_with(options.archetype, "train")
    print(f"{run}: {space.size} weights move; {len(scenarios)} train scenarios × {options.per_scenario} encounters, "
          f"{2 * options.pairs} members + centre + traditional per generation", flush=True)
    z = np.zeros(space.size)
    adam = Adam(space.size, options.lr)
    best = validate(shipped, options.archetype, options.encounters)
    best_z, best_generation = z.copy(), 0
    record({"generation": 0, "eval": best})
    print(f"shipped: validation {best['win_rate']:.3f}", flush=True)
    started = time.perf_counter()
    for g in tqdm(range(1, options.generations + 1), desc=f"{options.archetype} es", unit="gen"):
        noise = rng.standard_normal((options.pairs, space.size))
        result = generation(space, z, noise, options.sigma, options.archetype, scenarios, options.per_scenario,
                            ES_SEED + 1000 * options.seed + 97 * g)
        z = z + adam.step(result.pop("gradient"))
        record({"generation": g, **result, "z_norm": float(np.linalg.norm(z) / np.sqrt(space.size)),
                "seconds": time.perf_counter() - started})
        if g % options.eval_every == 0 or g == options.generations:
            current = validate(space.weights(z).to_model(shipped), options.archetype, options.encounters)
            record({"generation": g, "eval": current})
            print(f"generation {g}: validation {current['win_rate']:.3f} (best {best['win_rate']:.3f} at "
                  f"{best_generation})", flush=True)
            if current["win_rate"] > best["win_rate"]:
                best, best_z, best_generation = current, z.copy(), g
    kept = space.weights(best_z).to_model(shipped)
    torch.save({"state_dict": kept.state_dict(), "generation": best_generation, "args": vars(options)},
               out / "best.pt")
    summary = {"run": run, "kept_generation": best_generation, "validation": best,
               "seconds": time.perf_counter() - started, "args": {k: str(v) for k, v in vars(options).items()}}
    if options.heldout and best_generation > 0:
        summary["heldout_shipped"] = validate(shipped, options.archetype, 1000, "heldout")
        summary["heldout_kept"] = validate(kept, options.archetype, 1000, "heldout")
        head = compare(torch_policy(kept), torch_policy(shipped), options.archetype,
                       scenarios_with(options.archetype, "heldout"), 1000, HEAD_TO_HEAD_SEED + 1, progress=False)
        summary["head_to_head"] = {k: head[k] for k in ("encounters", "wins", "ties", "losses", "win_rate")}
        print(f"held out: shipped {summary['heldout_shipped']['win_rate']:.3f}, kept "
              f"{summary['heldout_kept']['win_rate']:.3f}; head to head {summary['head_to_head']}", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
