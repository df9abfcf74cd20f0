"""Would students imitate the search better on new maps if they saw more? A wider state (experiment)

    PYTHONPATH=. python bench/wide_inputs.py collect --archetype tank --chunks 4 --seed 1 --out /tmp/w/wide
    PYTHONPATH=. python bench/wide_inputs.py fit --archetype tank --data /tmp/w/wide/tank-*.npz --seeds 1 2 3 \
        --out bench/results/learning/wide_inputs_tank.json
    PYTHONPATH=. python bench/wide_inputs.py plot bench/results/learning/wide_inputs_tank.json --shipped 0.732 \
        --out bench/results/learning/wide_inputs.png

The lookahead search wins 76-87 % held out; its students trail it by 12-15 points on new maps (docs/benchmarks.md,
"The teacher against its students"). The search plays copies of the whole arena; a student sees the 64 values of
docs/protocol.md for its last 10 ticks, which say much about its target and little about the rest of the party.
This measures whether more of what a map server can see closes that gap, before anyone changes the protocol:

- `collect`: the lookahead teacher (the pipeline's settings: two plays per candidate, 20 % random candidates)
  plays the archetype's train scenarios in a VecArena whose observe() appends EXTRA_NAMES (below: the three
  nearest enemies in view, where they stand, their HP, class, casting, whom they target; the target's direction;
  how many enemies target this monster; ...) to the 64 values. Every decision keeps the wide history; its first
  64 columns are exactly what a student sees today.
- `fit`: the pipeline's temporal_transformer member (or, `--model mlp`, the shipped students' MLP) learns the
  candidates' values from the same decisions twice, from the 64 values and from the wide state, each with
  several training seeds (one training varies by up to 15 points held out), and each plays alone on the
  held-out encounters of every table in docs/benchmarks.md and on validation encounters of the train scenarios
  (the 64-value one in a plain arena, the wide one in the wide arena; the same seeds, so the same encounters).
  Nothing is registered or shipped.

Every extra value is something rAthena's map server knows: the units within a monster's view range (14 cells),
and who targets or casts at the monster wherever they stand; nothing the adventurers' players decide privately
(their behaviour pattern) is included.

`collect --extras map` and `fit --extras map` append MAP_EXTRA_NAMES instead: the ground beyond the 5 x 5 cells of
the protocol (straight runs to the walls, how open and connected the area is, walking steps to the target and the
nearest enemies, how far MOVE_AWAY gets before a dead end), all from the map's cells and walking distances, as
rAthena's map_getcell and path_search give them.

`collect --extras privileged` and `fit --extras privileged` append PRIVILEGED_NAMES: the whole arena the search
plays, which no map server sends (every pack member and adventurer in fixed slots, the party's behaviour patterns):
whether information is what the students lack at all (docs/benchmarks.md, "Where the students fall short").
`fit --hold K` plays the students every K ticks, as the search does; `curve` draws win rate against the amount of
data of several fits.

`collect --fresh-dice --redraw-patterns` records a teacher that does not use what no state can show either (the
party's patterns, the dice of the decision's own tick): whether a student imitates such a teacher better
(docs/benchmarks.md, "A teacher that knows only what a student could").
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from aiworld.mobs.state import MAX_COUNT, MODEL_OUTPUTS, STATE_SIZE, VIEW_RANGE_CELLS
from trainers.arena.adventurers import PATTERNS
from trainers.arena.core import VecArena
from trainers.arena.gather import take_unit
from trainers.arena.geometry import DX, DY, UNREACHABLE, GridMap, box_mean
from trainers.arena.procedural import KINDS
from trainers.arena.units import NUM_ARCHETYPES

VIEW = VIEW_RANGE_CELLS
NEAREST = 3
_SLOT = ("present", "dx", "dy", "hp", "melee", "ranged", "mage", "support", "casting", "targets_me")
EXTRA_NAMES = tuple(f"enemy{j + 1}_{f}" for j in range(NEAREST) for f in _SLOT) + (
    "target_dx", "target_dy", "enemies_targeting_me", "visible_enemies_mean_hp", "visible_enemies_lowest_hp",
    "allies_on_my_target", "cast_at_me")
WIDE_SIZE = STATE_SIZE + len(EXTRA_NAMES)


def _offset(delta: np.ndarray) -> np.ndarray:
    """A signed cell offset as a value in [0, 1]: 0.5 is the monster's own cell, 0 and 1 are 14 cells away."""
    return np.clip(0.5 + delta / (2 * VIEW), 0.0, 1.0)


def extras(A: VecArena) -> np.ndarray:
    """float32[E, M, len(EXTRA_NAMES)]: the extra values of every monster (docstring of the module)."""
    M = A.M
    E = A.hp.shape[0]
    me = np.arange(M)
    alive = A.alive_u
    ratio = A.hp / A.max_hp
    out = np.zeros((E, M, len(EXTRA_NAMES)), np.float32)
    ed = A.enemy_dist[:, :M, :]  # [E, M, U]: FAR for allies and the dead
    order = np.argsort(ed, axis=2, kind="stable")[:, :, :NEAREST]  # [E, M, 3] unit indices

    def near(arr: np.ndarray) -> np.ndarray:  # arr [E, U] -> [E, M, 3] at the nearest enemies
        return np.take_along_axis(np.broadcast_to(arr[:, None, :], ed.shape), order, axis=2)

    present = np.take_along_axis(ed, order, axis=2) <= VIEW
    slot = np.zeros((E, M, NEAREST, len(_SLOT)), np.float32)
    slot[..., 0] = present
    slot[..., 1] = _offset(near(A.x) - A.x[:, :M, None])
    slot[..., 2] = _offset(near(A.y) - A.y[:, :M, None])
    slot[..., 3] = near(ratio)
    kind = A.kind[order]
    for k in range(4):  # melee, ranged, mage, support adventurers (units.CLASSES order)
        slot[..., 4 + k] = kind == NUM_ARCHETYPES + k
    slot[..., 8] = near(A.cast_left) > 0
    slot[..., 9] = near(A.target) == me[None, :, None]
    slot *= present[..., None]
    out[..., :NEAREST * len(_SLOT)] = slot.reshape(E, M, -1)

    c = NEAREST * len(_SLOT)
    target = A.target[:, :M]
    has = (target >= 0) & alive[:, :M]
    t = np.maximum(target, 0)
    out[..., c] = np.where(has, _offset(take_unit(A.x, t) - A.x[:, :M]), 0.5)
    out[..., c + 1] = np.where(has, _offset(take_unit(A.y, t) - A.y[:, :M]), 0.5)
    enemies_alive = alive[:, None, M:]
    out[..., c + 2] = ((A.target[:, None, M:] == me[None, :, None]) & enemies_alive).sum(axis=2) / MAX_COUNT
    visible = ed <= VIEW
    count = visible.sum(axis=2)
    out[..., c + 3] = np.where(count > 0, np.where(visible, ratio[:, None, :], 0).sum(axis=2) / np.maximum(count, 1), 1)
    out[..., c + 4] = np.where(count > 0, np.where(visible, ratio[:, None, :], np.inf).min(axis=2), 1)
    same = (target[:, None, :] == target[:, :, None]) & has[:, None, :] & has[:, :, None] & ~np.eye(M, dtype=bool)
    out[..., c + 5] = same.sum(axis=2) / MAX_COUNT
    casting_at = (A.cast_left[:, None, M:] > 0) & (A.cast_target[:, None, M:] == me[None, :, None]) & enemies_alive
    out[..., c + 6] = casting_at.any(axis=2)
    np.clip(out, 0.0, 1.0, out=out)
    return out


class ExtendedArena(VecArena):
    """A VecArena whose observe() is the 64 values of docs/protocol.md followed by extra_names (subclasses)."""

    extra_names: tuple[str, ...] = ()

    @staticmethod
    def extra_values(arena: VecArena) -> np.ndarray:
        raise NotImplementedError

    def observe(self) -> np.ndarray:
        return np.concatenate([super().observe(), self.extra_values(self)], axis=2)

    @classmethod
    def make(cls, name: str, num_arenas: int, seed: int) -> ExtendedArena:
        """An arena factory for trainers.evaluate: the scenario `name`, no auto_reset."""
        from trainers.arena import load_scenario

        return cls(load_scenario(name), num_arenas, seed=seed, auto_reset=False)


class WideArena(ExtendedArena):
    state_size = WIDE_SIZE
    extra_names = EXTRA_NAMES
    extra_values = staticmethod(extras)


wide_factory = WideArena.make


# -- the map beyond the 5 x 5 cells around (`--extras map`) ---------------------------------------------------

REACH = 7  # walking steps: "near" for the counts below, and how far an escape is followed
MAP_EXTRA_NAMES = tuple(f"free_run_{dx:+d}_{dy:+d}" for dx, dy in zip(DX, DY, strict=True)) + (
    "open_space_15x15", "reachable_within_3", "reachable_within_7", "target_walk", "target_detour",
    "nearest_enemy_walk", "enemies_within_walk_7", "escape_depth")
MAP_SIZE = STATE_SIZE + len(MAP_EXTRA_NAMES)


def _map_tables(mp: GridMap) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of one map, cached on it: free_run float32[C, 8] (legal straight steps in each direction, up to
    the view range, / 14) and float32[C, 3] (walkable share of the 15 x 15 cells around; cells within 3 and 7
    walking steps as shares of the 7 x 7 and 15 x 15 boxes that bound them)."""
    cached = getattr(mp, "_bench_map_tables", None)
    if cached is None:
        C = mp.cells
        run = np.zeros((C, 8), np.float32)
        for d in range(8):
            cur, going = np.arange(C), np.ones(C, bool)
            for _ in range(VIEW):
                going &= mp.allowed[cur, d]
                run[:, d] += going
                cur = mp.neighbour[cur, d]
        area = np.stack([box_mean(mp.walkable, REACH, 0.0).ravel(),
                         (mp.steps <= 3).sum(axis=0) / 49, (mp.steps <= REACH).sum(axis=0) / (2 * REACH + 1) ** 2],
                        axis=1).astype(np.float32)
        cached = mp._bench_map_tables = (run / VIEW, area)
    return cached


def map_extras(A: VecArena) -> np.ndarray:
    """float32[E, M, len(MAP_EXTRA_NAMES)]: what the map server's cell data and path search say about the ground
    around each monster: how far it can walk straight in the 8 directions; how open and how connected its
    surroundings are; walking steps to its target (1 if none or unreachable) and how much longer that is than the
    straight distance; walking steps to the nearest enemy and how many enemies are within 7 steps; and how many
    of 7 steps MOVE_AWAY from the nearest enemy in view could take before a dead end (1 if none in view)."""
    mp, M = A.map, A.M
    run, area = _map_tables(mp)
    here = A.cell[:, :M]
    E = here.shape[0]
    out = np.zeros((E, M, len(MAP_EXTRA_NAMES)), np.float32)
    out[..., :8] = run[here]
    out[..., 8:11] = area[here]
    c = 11
    target = A.target[:, :M]
    has = (target >= 0) & A.alive_u[:, :M]
    tcell = take_unit(A.cell, np.maximum(target, 0))
    walk = mp.steps_between(tcell, here)
    reachable = has & (walk < UNREACHABLE)
    out[..., c] = np.where(reachable, walk / VIEW, 1.0)
    out[..., c + 1] = np.where(reachable, (walk - A.target_dist[:, :M]) / VIEW, np.where(has, 1.0, 0.0))
    enemies = A.alive_u[:, M:]  # [E, P]
    steps = mp.steps_between(A.cell[:, None, M:], here[:, :, None])  # [E, M, P]
    steps = np.where(enemies[:, None, :], steps, UNREACHABLE)
    out[..., c + 2] = steps.min(axis=2) / VIEW
    out[..., c + 3] = (steps <= REACH).sum(axis=2) / MAX_COUNT
    near = A.nearest[:, :M]
    in_view = A.nearest_dist[:, :M] <= VIEW
    ncell = take_unit(A.cell, near)
    cur, going, depth = here.copy(), in_view.copy(), np.zeros(here.shape, np.float32)
    for _ in range(REACH):
        d = mp.away_dir(ncell, cur)
        going &= d >= 0
        depth += going
        cur = np.where(going, mp.neighbour[cur, np.maximum(d, 0)], cur)
    out[..., c + 4] = np.where(in_view, depth / REACH, 1.0)
    np.clip(out, 0.0, 1.0, out=out)
    return out


class MapArena(ExtendedArena):
    state_size = MAP_SIZE
    extra_names = MAP_EXTRA_NAMES
    extra_values = staticmethod(map_extras)


map_factory = MapArena.make


# -- the whole arena, what no map server sends (`--extras privileged`) -------------------------------------------

SLOTS = 5  # other pack members and adventurers: at most 6 monsters and 5 adventurers in any scenario
_ALLY = ("present", "dx", "dy", "hp", "sp", "stunned", "casting", "same_target", "leader") + tuple(
    f"archetype_{a}" for a in range(NUM_ARCHETYPES))
_ENEMY = ("present", "dx", "dy", "hp", "sp") + tuple(f"class_{c}" for c in range(4)) + tuple(
    f"pattern_{p.name}" for p in PATTERNS) + (
    "casting", "cast_at_me", "targets_me", "my_target", "stunned", "attack_ready", "skill1_ready", "skill2_ready",
    "skill3_ready")
PRIVILEGED_NAMES = tuple(f"ally{j + 1}_{f}" for j in range(SLOTS) for f in _ALLY) + tuple(
    f"adventurer{j + 1}_{f}" for j in range(SLOTS) for f in _ENEMY) + ("time_used",)
PRIVILEGED_SIZE = STATE_SIZE + len(PRIVILEGED_NAMES)


def _far_offset(delta: np.ndarray) -> np.ndarray:
    """A signed cell offset in [0, 1] over 28 cells each way (twice the view: the whole arena is known here)."""
    return np.clip(0.5 + delta / (4 * VIEW), 0.0, 1.0)


def privileged_extras(A: VecArena) -> np.ndarray:
    """float32[E, M, len(PRIVILEGED_NAMES)]: for each monster, every other pack member and every adventurer
    (alive, offset, HP, SP, status, whom they target, kind) and the adventurers' behaviour patterns, which the
    players decide and no protocol carries: the search's knowledge of the arena, as inputs. Slots follow the
    scenario's unit order (a pack member's own slot is skipped), so a slot names the same unit all encounter."""
    M, P = A.M, A.P
    E = A.hp.shape[0]
    sp_max = np.maximum(A.max_sp, 1.0)
    ratio, sp = A.hp / A.max_hp, A.sp / sp_max
    out = np.zeros((E, M, len(PRIVILEGED_NAMES)), np.float32)
    me_target = A.target[:, :M]  # [E, M]
    for m in range(M):
        others = [u for u in range(M) if u != m][:SLOTS]
        for j, u in enumerate(others):
            c = j * len(_ALLY)
            out[:, m, c] = A.alive_u[:, u]
            out[:, m, c + 1] = _far_offset(A.x[:, u] - A.x[:, m])
            out[:, m, c + 2] = _far_offset(A.y[:, u] - A.y[:, m])
            out[:, m, c + 3], out[:, m, c + 4] = ratio[:, u], sp[:, u]
            out[:, m, c + 5], out[:, m, c + 6] = A.stun[:, u] > 0, A.cast_left[:, u] > 0
            out[:, m, c + 7] = (A.target[:, u] == me_target[:, m]) & (me_target[:, m] >= 0)
            out[:, m, c + 8] = A.leader == u
            out[:, m, c + 9 + A.kind[u]] = 1.0
            out[:, m, c:c + len(_ALLY)] *= A.alive_u[:, u, None]
        base = SLOTS * len(_ALLY)
        for j in range(min(P, SLOTS)):
            u, c = M + j, base + j * len(_ENEMY)
            out[:, m, c] = A.alive_u[:, u]
            out[:, m, c + 1] = _far_offset(A.x[:, u] - A.x[:, m])
            out[:, m, c + 2] = _far_offset(A.y[:, u] - A.y[:, m])
            out[:, m, c + 3], out[:, m, c + 4] = ratio[:, u], sp[:, u]
            out[:, m, c + 5 + A.kind[u] - NUM_ARCHETYPES] = 1.0
            out[np.arange(E), m, c + 9 + A.pattern[:, j].astype(np.int64)] = 1.0
            k = c + 9 + len(PATTERNS)
            out[:, m, k] = A.cast_left[:, u] > 0
            out[:, m, k + 1] = (A.cast_left[:, u] > 0) & (A.cast_target[:, u] == m)
            out[:, m, k + 2] = A.target[:, u] == m
            out[:, m, k + 3] = me_target[:, m] == u
            out[:, m, k + 4] = A.stun[:, u] > 0
            out[:, m, k + 5] = A.attack_cd[:, u] <= 0
            out[:, m, k + 6:k + 9] = A.cooldown[:, u, :] <= 0
            out[:, m, c:c + len(_ENEMY)] *= A.alive_u[:, u, None]
    out[..., -1] = (A.steps / A.max_steps)[:, None]
    np.clip(out, 0.0, 1.0, out=out)
    return out


class PrivilegedArena(ExtendedArena):
    state_size = PRIVILEGED_SIZE
    extra_names = PRIVILEGED_NAMES
    extra_values = staticmethod(privileged_extras)


EXTRAS: dict[str, type[ExtendedArena]] = {"enemies": WideArena, "map": MapArena, "privileged": PrivilegedArena}


# -- collect ------------------------------------------------------------------------------------------------

def run_collect(options: argparse.Namespace) -> int:
    from trainers import lookahead
    from trainers.arena import procedural
    from trainers.pipeline import Budget, scenarios_with

    hand_made = [] if options.only_procedural else scenarios_with(options.archetype, "train")
    options.out.mkdir(parents=True, exist_ok=True)
    for chunk in range(options.chunks):  # a file per chunk: a long collection can be stopped and still used
        path = options.out / f"{options.archetype}-{options.seed}-{chunk}.npz"
        if path.exists():
            continue
        scenarios = hand_made + (procedural.write(  # other generated maps for every chunk and seed
            options.archetype, options.procedural, options.seed * 1000 + chunk,
            options.out / "scenarios" / f"{options.seed}-{chunk}", tuple(options.procedural_kinds),
            options.balance)
            if options.procedural else [])
        settings = lookahead.LookaheadArgs(seed=options.seed * 1000 + chunk,
                                           continuations=Budget().lookahead_continuations,
                                           fresh_dice=options.fresh_dice, redraw_patterns=options.redraw_patterns)
        started = time.monotonic()
        data = lookahead.collect(options.archetype, scenarios, options.batches, settings,
                                arena_class=EXTRAS[options.extras])
        data["histories"] = data["histories"].astype(np.float16)  # all values in [0, 1]: within 0.00025
        np.savez_compressed(path, **data)
        print(f"{options.archetype} chunk {chunk}: {len(data['actions']):,} decisions in "
              f"{time.monotonic() - started:.0f} s ({options.batches} batches over {len(scenarios)} scenarios) "
              f"-> {path}", flush=True)
    return 0


# -- fit and play -------------------------------------------------------------------------------------------

def _load(paths: list[Path]):
    """The collected files as one pipeline Dataset (histories stay float16 until a width is taken)."""
    from trainers.pipeline import Dataset

    parts = [dict(np.load(p)) for p in paths]
    return Dataset(**{k: np.concatenate([p[k] for p in parts]) for k in Dataset.__dataclass_fields__})


def run_fit(options: argparse.Namespace) -> int:
    from trainers import supervised
    from trainers.evaluate import evaluate
    from trainers.networks import DistilledMLP, TemporalTransformer
    from trainers.pipeline import HELDOUT_SEED, VALIDATION_SEED, Budget, PipelineArgs, torch_policy

    torch.set_num_threads(1)
    data = _load(options.data)
    targets = data.centred_values()  # what the pipeline's members regress
    inputs: dict[int, np.ndarray] = {}  # per width, converted once for every seed
    tmp = Path(tempfile.mkdtemp(prefix="wide-inputs-"))
    args = PipelineArgs(archetype=options.archetype, version=0, out_root=tmp)  # for its scenarios and seed
    rows: list[dict] = []
    arena_class = EXTRAS[options.extras]
    if data.histories.shape[-1] != arena_class.state_size:
        raise SystemExit(f"the data hold {data.histories.shape[-1]} values per tick, --extras {options.extras} "
                         f"means {arena_class.state_size}")
    for seed in options.seeds:
        for variant, width, factory in (("64 values", STATE_SIZE, None),
                                        ("wide", arena_class.state_size, arena_class.make)):
            if variant not in options.variants:
                continue
            started = time.monotonic()
            torch.manual_seed(seed)
            if options.model == "mlp":  # the shipped students' shape (trainers/distill.py)
                model = DistilledMLP(outputs=MODEL_OUTPUTS, state_size=width)
            else:
                model = TemporalTransformer(state_size=width, n_actions=MODEL_OUTPUTS)
            model.learns_values = True
            if width not in inputs:
                inputs[width] = np.ascontiguousarray(data.histories[..., :width], dtype=np.float32)
            x = inputs[width]
            result = supervised.train(
                supervised.SupervisedArgs(run_dir=tmp / f"{variant.replace(' ', '-')}-{seed}", seed=seed,
                                          epochs=options.epochs or Budget().supervised_epochs),
                model, x, targets, progress=False, loss="mse")
            model = result.model.eval()
            trained_s = time.monotonic() - started
            row = {"model": options.model, "variant": variant, "width": width, "seed": seed, "decisions": len(x),
                   "hold": options.hold,
                   "trained_s": round(trained_s), "metrics": {k: v for k, v in result.metrics.items()
                                                              if isinstance(v, (int, float))}}
            playing = time.monotonic()
            for split, offset, encounters in (("heldout", HELDOUT_SEED, options.encounters),
                                              ("train", VALIDATION_SEED, options.validation_encounters)):
                report = evaluate(torch_policy(model), options.archetype, args.scenarios(split),
                                  encounters=encounters, seed=args.seed + offset, progress=False,
                                  arena_factory=factory, hold=options.hold)
                row[split] = {"win_rate": report.win_rate, "wilson": [report.wilson_low, report.wilson_high],
                              "wins": report.wins, "ties": report.ties, "pairs": report.encounters,
                              "per_scenario": {k: v["win_rate"] for k, v in report.per_scenario.items()}}
            row["played_s"] = round(time.monotonic() - playing)
            rows.append(row)
            print(f"{options.model}, {variant}, seed {seed}: trained in {trained_s:.0f} s, "
                  f"held-out {row['heldout']['win_rate']:.1%}, validation {row['train']['win_rate']:.1%}", flush=True)
            if options.out:
                options.out.parent.mkdir(parents=True, exist_ok=True)
                options.out.write_text(json.dumps({"archetype": options.archetype, "extras_set": options.extras,
                                                   "data": [str(p) for p in options.data],
                                                   "encounters": options.encounters,
                                                   "validation_encounters": options.validation_encounters,
                                                   "extras": arena_class.extra_names,
                                                   "rows": rows}, indent=1))
    print(f"\n{options.archetype}, {options.model}: {len(data.actions):,} decisions, "
          f"{options.encounters} held-out and {options.validation_encounters} validation pairs\n")
    print("| inputs | training seed | held-out win rate | Wilson 95 % | validation win rate |")
    print("|---|---|---|---|---|")
    for r in rows:
        low, high = r["heldout"]["wilson"]
        print(f"| {r['variant']} ({r['width']}) | {r['seed']} | {r['heldout']['win_rate']:.1%} "
              f"| [{low:.1%}, {high:.1%}] | {r['train']['win_rate']:.1%} |")
    return 0


# -- plot -------------------------------------------------------------------------------------------------

def _panels(paths: list[Path]) -> list[dict]:
    """The result files as one panel each, files of one archetype, network and extras (e.g. the 64-value and the
    wide trainings run as two processes) joined into one panel."""
    panels: dict[tuple, dict] = {}
    for path in paths:
        result = json.loads(Path(path).read_text())
        key = (result["archetype"], result["rows"][0].get("model", "transformer"), result.get("extras_set", "enemies"))
        panel = panels.setdefault(key, {**result, "rows": []})
        panel["rows"] += result["rows"]
    return list(panels.values())


def run_plot(options: argparse.Namespace) -> int:
    """One panel per archetype, network and extras: each training's held-out win rate (Wilson 95 % bar) and
    validation win rate, 64 values beside wide, with the 75 % target and the shipped student's held-out win rate
    (`--shipped`: one value for every panel, or one per panel)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    results = _panels(options.results)
    shipped = options.shipped or [None]
    if len(shipped) not in (1, len(results)):
        raise SystemExit(f"--shipped: one value, or one per panel ({len(results)})")
    shipped = shipped * len(results) if len(shipped) == 1 else shipped
    fig = Figure(figsize=(5 * len(results), 4.5))
    axes = fig.subplots(1, len(results), squeeze=False, sharey=True)[0]
    for ax, result, line in zip(axes, results, shipped, strict=True):
        widths = {r["variant"]: r["width"] for r in result["rows"]}
        variants = sorted(widths, key=lambda v: v != "64 values")
        for i, variant in enumerate(variants):
            rows = [r for r in result["rows"] if r["variant"] == variant]
            for j, r in enumerate(rows):
                x = i + (j - (len(rows) - 1) / 2) * 0.12
                low, high = r["heldout"]["wilson"]
                win = r["heldout"]["win_rate"]
                ax.errorbar([x], [win], yerr=[[win - low], [high - win]], fmt="o", color=f"C{i}", capsize=3,
                            label="held out (Wilson 95 %)" if i == j == 0 else None)
                ax.plot([x], [r["train"]["win_rate"]], "x", color=f"C{i}",
                        label="validation (train maps)" if i == j == 0 else None)
        ax.axhline(0.75, linestyle="--", color="tab:green", linewidth=1, label="75 % target")
        if line is not None:
            ax.axhline(line, linestyle=":", color="grey", linewidth=1, label=f"shipped student, held out ({line:.1%})")
        extra = result.get("extras_set", "enemies")
        ax.set_xticks(range(len(variants)), [f"{v if v == '64 values' else '64 + ' + extra} ({widths[v]})"
                                             for v in variants])
        model = result["rows"][0].get("model", "transformer")
        ax.set_title(f"{result['archetype']}: {model}, one point per training seed")
        ax.set_ylabel("win rate against traditional AI")
        ax.set_xlim(-0.5, len(variants) - 0.5)
        ax.legend(fontsize=7, loc="best")
    FigureCanvasAgg(fig)
    fig.tight_layout()
    options.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(options.out, format="png", dpi=110)
    print(f"wrote {options.out}")
    return 0


# -- curve ------------------------------------------------------------------------------------------------

def run_curve(options: argparse.Namespace) -> int:
    """Every training's held-out and validation win rate against the decisions it learned from, one colour per
    input width, the mean over training seeds joined by a line (a learning curve over the teacher's data)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for path in options.results for r in json.loads(path.read_text())["rows"] if r.get("hold", 1) == 1]
    widths = sorted({r["width"] for r in rows})
    fig = Figure(figsize=(10, 4.5))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, split, title in zip(axes, ("heldout", "train"), ("held out (1,000 pairs)", "validation, train maps"),
                                strict=True):
        for i, width in enumerate(widths):
            mine = [r for r in rows if r["width"] == width]
            sizes = sorted({r["decisions"] for r in mine})
            ax.plot([r["decisions"] for r in mine], [r[split]["win_rate"] for r in mine], "o", color=f"C{i}",
                    alpha=0.5)
            means = [np.mean([r[split]["win_rate"] for r in mine if r["decisions"] == n]) for n in sizes]
            ax.plot(sizes, means, "-s", color=f"C{i}", markersize=4,
                    label=f"{width} values per tick, mean of the seeds")
        ax.axhline(0.75, linestyle="--", color="tab:green", linewidth=1, label="75 % target")
        if options.shipped is not None and split == "heldout":
            ax.axhline(options.shipped, linestyle=":", color="grey", label=f"shipped student ({options.shipped:.1%})")
        teacher = options.teacher if split == "heldout" else options.teacher_train
        if teacher is not None:
            ax.axhline(teacher, linestyle="-.", color="black", linewidth=1, label=f"the teacher itself ({teacher:.1%})")
        ax.set_xscale("log")
        ax.set_xlabel("the teacher's decisions learned from")
        ax.set_title(title)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("win rate against traditional AI")
    FigureCanvasAgg(fig)
    fig.tight_layout()
    options.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(options.out, format="png", dpi=110)
    print(f"wrote {options.out}")
    return 0


# -- compare ----------------------------------------------------------------------------------------------

def _rows_by_seed(paths: list[Path], width: int) -> dict[tuple[str, int], dict]:
    rows = {}
    for path in paths:
        for r in json.loads(Path(path).read_text())["rows"]:
            if r["width"] == width:
                rows[(r.get("model", "transformer"), r["seed"])] = r
    return rows


def run_compare(options: argparse.Namespace) -> int:
    """Pairs the trainings of two result sets by network and training seed (same seeds, same encounters, other
    data) and prints a markdown table, each set's mean, and the paired held-out differences."""
    a = _rows_by_seed(options.a, options.width)
    b = _rows_by_seed(options.b, options.width)
    label_a, label_b = options.labels
    print("| network | training seed | data | kept-out value loss | held-out [Wilson 95 %] | validation |")
    print("|---|---|---|---|---|---|")
    for key in sorted(set(a) | set(b)):
        for label, rows in ((label_a, a), (label_b, b)):
            if key in rows:
                r = rows[key]
                low, high = r["heldout"]["wilson"]
                print(f"| {key[0]} | {key[1]} | {label} | {r['metrics']['val_loss']:.3f} "
                      f"| {r['heldout']['win_rate']:.1%} [{low:.1%}, {high:.1%}] | {r['train']['win_rate']:.1%} |")
    print()
    for model in sorted({k[0] for k in set(a) | set(b)}):
        for label, rows in ((label_a, a), (label_b, b)):
            held = [r["heldout"]["win_rate"] for k, r in rows.items() if k[0] == model]
            valid = [r["train"]["win_rate"] for k, r in rows.items() if k[0] == model]
            if held:
                print(f"{model}, {label}: {len(held)} trainings, held-out mean {np.mean(held):.1%} "
                      f"(sd {np.std(held, ddof=1) if len(held) > 1 else 0:.1%}), validation mean {np.mean(valid):.1%}")
        pairs = [b[k]["heldout"]["win_rate"] - a[k]["heldout"]["win_rate"]
                 for k in sorted(a) if k[0] == model and k in b]
        if pairs:
            print(f"{model}, {label_b} minus {label_a}, held out, by seed: "
                  + ", ".join(f"{100 * d:+.1f}" for d in pairs)
                  + f" (mean {100 * np.mean(pairs):+.1f}, {sum(d > 0 for d in pairs)}/{len(pairs)} higher)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="the lookahead teacher's decisions with wide histories")
    c.add_argument("--archetype", required=True)
    c.add_argument("--batches", type=int, default=11, help="batches of 16 encounters per chunk")
    c.add_argument("--chunks", type=int, default=4, help="files written one after the other (a rerun skips those done)")
    c.add_argument("--seed", type=int, default=1, help="one per process: other encounters, other dice")
    c.add_argument("--out", type=Path, required=True, help="directory for <archetype>-<seed>-<chunk>.npz")
    c.add_argument("--extras", choices=sorted(EXTRAS), default="enemies",
                   help="which values follow the 64: EXTRA_NAMES (enemies), MAP_EXTRA_NAMES (map) or "
                        "PRIVILEGED_NAMES (privileged: the whole arena, what no map server sends)")
    c.add_argument("--fresh-dice", action="store_true", help="the teacher's LookaheadArgs.fresh_dice")
    c.add_argument("--redraw-patterns", action="store_true", help="the teacher's LookaheadArgs.redraw_patterns")
    c.add_argument("--procedural", type=int, default=0, metavar="N",
                   help="generated train scenarios per chunk (trainers/arena/procedural.py), after the hand-made ones")
    c.add_argument("--procedural-kinds", nargs="+", default=["open"], choices=KINDS, help="their map kinds")
    c.add_argument("--only-procedural", action="store_true", help="the generated scenarios only")
    c.add_argument("--balance", type=int, default=64, metavar="N",
                   help="encounters per step of the structured maps' balance tuning (0: none; procedural.balance)")
    f = sub.add_parser("fit", help="train on 64 and on wide inputs, play held out and validation")
    f.add_argument("--archetype", required=True)
    f.add_argument("--data", type=Path, nargs="+", required=True)
    f.add_argument("--extras", choices=sorted(EXTRAS), default="enemies",
                   help="the values the data were collected with")
    f.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    f.add_argument("--variants", nargs="+", default=["64 values", "wide"], choices=["64 values", "wide"])
    f.add_argument("--encounters", type=int, default=1000, help="held-out pairs")
    f.add_argument("--validation-encounters", type=int, default=500, help="pairs of the train scenarios")
    f.add_argument("--hold", type=int, default=1, help="the students play every K ticks and keep the action in "
                   "between, as the search does (1: every tick, as served)")
    f.add_argument("--epochs", type=int, default=0, help="0: the pipeline's supervised budget")
    f.add_argument("--model", choices=("transformer", "mlp"), default="transformer",
                   help="the pipeline's temporal_transformer member, or the students' 256-256 MLP")
    f.add_argument("--out", type=Path)
    p = sub.add_parser("plot", help="draw result files of fit")
    p.add_argument("results", type=Path, nargs="+")
    p.add_argument("--shipped", type=float, nargs="+",
                   help="the shipped student's held-out win rate, drawn as a line: one for all panels or one each")
    p.add_argument("--out", type=Path, required=True)
    k = sub.add_parser("compare", help="pair two sets of fit results by network and training seed")
    k.add_argument("--a", type=Path, nargs="+", required=True, help="result files of the first data")
    k.add_argument("--b", type=Path, nargs="+", required=True, help="result files of the second data")
    k.add_argument("--labels", nargs=2, default=["a", "b"], help="names of the two data in the table")
    k.add_argument("--width", type=int, default=STATE_SIZE, help="which inputs' rows (64: the protocol's)")
    v = sub.add_parser("curve", help="held-out and validation win rate against the number of decisions")
    v.add_argument("results", type=Path, nargs="+", help="fit result files (rows of one hold are drawn)")
    v.add_argument("--shipped", type=float, help="the shipped student's held-out win rate, drawn as a line")
    v.add_argument("--teacher", type=float, help="the teacher's held-out win rate, drawn as a line")
    v.add_argument("--teacher-train", type=float, help="the teacher's win rate on the train maps, drawn as a line")
    v.add_argument("--out", type=Path, required=True)
    options = parser.parse_args()
    return {"collect": run_collect, "fit": run_fit, "plot": run_plot, "compare": run_compare,
            "curve": run_curve}[options.command](options)


if __name__ == "__main__":
    raise SystemExit(main())
