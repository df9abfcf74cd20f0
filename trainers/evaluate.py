"""Evaluation (docs/learning.md: "Win, precisely"): an ML pack against the traditional-AI pack on paired seeds.

Every pair is one scenario + one arena seed played twice: once with the monsters of one archetype acting
by a policy (the rest of the pack keeps the traditional AI, action 255) and once with the whole pack on
the traditional AI. Both sides start from bit-identical arenas (same scenario, same seed), so the only
difference between the two encounters is the policy. The ML side wins a pair if its score
(party_damage + pack_hp) exceeds the traditional side's by more than WIN_MARGIN; the win rate carries a
Wilson 95% interval.

`compare` runs the same protocol with two policies (a candidate against the active model) and
`should_promote` turns its result into the promotion decision.

    python -m trainers.evaluate --onnx model.fp32.onnx --archetype aggressive --encounters 512
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from aiworld.mobs.state import ARCHETYPES, HISTORY_LENGTH, MODEL_ACTIONS, STATE_SIZE, Action, output_actions

log = logging.getLogger(__name__)

WIN_MARGIN = 0.01  # the contract's margin: a score difference within it is a tie
Z_95 = 1.959964  # two-sided 95% normal quantile
TRADITIONAL = int(Action.TRADITIONAL_AI)
MAX_TICKS = 100_000  # guard against an arena that never reports done (10 000 s of game time)

Policy = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""policy(states float32[N, 64], histories float32[N, 10, 64]) -> int actions[N] in 0..9 or 255 (the
monster is left to the traditional AI this tick)."""

ArenaFactory = Callable[[str, int, int], Any]
"""make(scenario name, num_arenas, seed) -> an arena with VecArena's attributes (auto_reset off)."""


# -- statistics --------------------------------------------------------------------------------------

def wilson_interval(wins: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion wins/n; (0, 1) when n == 0 (nothing is known)."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= wins <= n:
        raise ValueError(f"wins={wins} outside 0..n={n}")
    p = wins / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


# -- policies ----------------------------------------------------------------------------------------

def cpu_session(path: Path, threads: int = 1):
    """An onnxruntime session on the CPU provider with `threads` intra-op threads (the machines are shared)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def onnx_policy(path: Path, threads: int = 1) -> Policy:
    """A policy from a served ONNX file (input `state` [B, 64] and/or `history` [B, 10, 64]).

    Inputs are told apart by rank, as the serving engine does, so any input name works: rank 2 gets the
    current states, rank 3 the histories. The action is the argmax of `action_logits` (an 11th output is 255).
    """
    session = cpu_session(path, threads)
    feeds_by_rank: dict[int, str] = {}
    for inp in session.get_inputs():
        rank = len(inp.shape)
        if rank not in (2, 3) or rank in feeds_by_rank:
            raise ValueError(f"{path}: input {inp.name!r} of rank {rank}: expected one rank-2 `state` "
                             "and/or one rank-3 `history` input")
        feeds_by_rank[rank] = inp.name
    outputs = [out.name for out in session.get_outputs()]
    output = "action_logits" if "action_logits" in outputs else outputs[0]

    def policy(states: np.ndarray, histories: np.ndarray) -> np.ndarray:
        if len(states) == 0:
            return np.zeros(0, np.int64)
        feeds = {}
        if 2 in feeds_by_rank:
            feeds[feeds_by_rank[2]] = np.ascontiguousarray(states, dtype=np.float32)
        if 3 in feeds_by_rank:
            feeds[feeds_by_rank[3]] = np.ascontiguousarray(histories, dtype=np.float32)
        (logits,) = session.run([output], feeds)
        return output_actions(logits.argmax(axis=1))

    policy.__name__ = f"onnx_policy({Path(path).name})"
    return policy


def constant_policy(action: int) -> Policy:
    """Every monster plays `action` (0..9): a baseline and a test fixture."""
    if not 0 <= action < MODEL_ACTIONS:
        raise ValueError(f"action {action} outside 0..{MODEL_ACTIONS - 1}")

    def policy(states: np.ndarray, histories: np.ndarray) -> np.ndarray:
        return np.full(len(states), action, np.int64)

    return policy


# -- working memory ----------------------------------------------------------------------------------

class HistoryBuffer:
    """The last HISTORY_LENGTH states of each (arena, monster), oldest first, zero rows before the
    encounter start: what aiworld.mobs.caches.WorkingMemory hands the served temporal models.

    A ring with one write position shared by every arena: a push is one strided copy instead of
    shifting E*M*10*64 floats every tick; rows are put in order only for the monsters a policy reads.
    Resetting an arena zeroes its rows; a zero row reads the same wherever the ring position is.
    """

    def __init__(self, num_arenas: int, num_monsters: int, length: int = HISTORY_LENGTH, width: int = STATE_SIZE):
        self.length = length
        self._ring = np.zeros((num_arenas, num_monsters, length, width), np.float32)
        self._last = length - 1  # slot of the newest state

    @classmethod
    def holding(cls, histories: np.ndarray) -> HistoryBuffer:
        """A buffer that already holds `histories` (float32[E, M, length, width], oldest first): arena copies
        carrying on from the real arena's working memory (trainers/lookahead.py Continuation)."""
        E, M, length, width = histories.shape
        memory = cls(E, M, length=length, width=width)
        memory._ring[:] = histories  # the newest in the last slot, where a new buffer's write position is
        return memory

    def push(self, states: np.ndarray) -> None:
        """Append float32[E, M, width], one state per (arena, monster)."""
        self._last = (self._last + 1) % self.length
        self._ring[:, :, self._last] = states

    def reset(self, arenas: np.ndarray) -> None:
        """Forget the past of the arenas where `arenas` (bool[E]) is set: their encounter ended."""
        self._ring[arenas] = 0.0

    def _order(self) -> np.ndarray:
        return (self._last + 1 + np.arange(self.length)) % self.length

    def gather(self, mask: np.ndarray) -> np.ndarray:
        """float32[N, 10, width] for the (arena, monster) pairs where mask (bool[E, M]) is set, row-major."""
        return self._ring[mask][:, self._order()]

    def histories(self) -> np.ndarray:
        """float32[E, M, 10, width], oldest first."""
        return self._ring[:, :, self._order()]


# -- playing one side of a batch ---------------------------------------------------------------------

@dataclass
class SideResult:
    """Per arena of one batch: the first encounter's outcome and the archetype's accumulated reward."""

    score: np.ndarray
    party_damage: np.ndarray
    pack_hp: np.ndarray
    winner: np.ndarray
    steps: np.ndarray
    reward: np.ndarray  # Σ over the encounter and over the archetype's monsters of step.reward
    controlled: np.ndarray  # monsters of the archetype in each arena at the start


def _default_factory(name: str, num_arenas: int, seed: int):
    from trainers.arena import VecArena, load_scenario

    return VecArena(load_scenario(name), num_arenas, seed=seed, auto_reset=False)


def _check_actions(actions: np.ndarray, n: int) -> np.ndarray:
    actions = np.asarray(actions)
    if actions.shape != (n,):
        raise ValueError(f"policy returned shape {actions.shape}, expected ({n},)")
    if n and not ((actions >= 0) & (actions < MODEL_ACTIONS) | (actions == TRADITIONAL)).all():
        raise ValueError(f"policy returned actions outside 0..{MODEL_ACTIONS - 1} and {TRADITIONAL}")
    return actions.astype(np.int16)


Observer = Callable[[int, np.ndarray, np.ndarray], None]
"""observer(tick, acting bool[E, M], actions int[n]): called when the policy has chosen, before the arena steps."""


def play_side(arena, policy: Policy | None, archetype_index: int, max_ticks: int = MAX_TICKS,
              hold: int = 1, observer: Observer | None = None) -> SideResult:
    """Play every arena of `arena` to the end of its first encounter.

    policy None: the whole pack plays the traditional AI. Otherwise the living monsters of the archetype
    act by the policy, every tick as served (hold 1), or every `hold` ticks with the action kept in between,
    as the lookahead teacher plays (trainers/lookahead.py). An arena that finished keeps being stepped (all
    255) until the last one finishes; only its first outcome counts, so whether the arena idles, replays or
    resets a finished encounter does not change the result. `observer` sees each decision (a search that
    values the policy's choices in copies of the arena: bench/teacher_vs_student.py).
    """
    if hold < 1:
        raise ValueError(f"hold must be at least 1 tick, got {hold}")
    E, M = arena.archetype.shape
    controlled_at_start = arena.archetype == archetype_index
    finished = np.zeros(E, bool)
    out = {key: np.zeros(E, np.float64) for key in ("score", "party_damage", "pack_hp", "winner", "steps")}
    reward = np.zeros(E, np.float64)
    memory = HistoryBuffer(E, M, width=getattr(arena, "state_size", STATE_SIZE)) if policy is not None else None
    actions = np.full((E, M), TRADITIONAL, np.int16)
    for tick in range(max_ticks):
        decides = tick % hold == 0
        if decides:
            actions.fill(TRADITIONAL)
        controlled = (arena.archetype == archetype_index) & ~finished[:, None]
        if memory is not None:
            states = arena.observe()
            memory.push(states)
            acting = controlled & arena.alive
            if decides and acting.any():
                actions[acting] = _check_actions(policy(states[acting], memory.gather(acting)), int(acting.sum()))
                if observer is not None:
                    observer(tick, acting, actions[acting])
            if not decides:
                actions[~acting] = TRADITIONAL  # died or finished since the decision
        step = arena.step(actions)
        reward += np.where(controlled, step.reward, 0.0).sum(axis=1)
        ended = np.asarray(step.done, bool) & ~finished
        if ended.any():
            for key, values in out.items():
                values[ended] = np.asarray(step.outcome[key], np.float64)[ended]
            finished |= ended
            if memory is not None:
                memory.reset(ended)
        if finished.all():
            break
    else:
        raise RuntimeError(f"{int((~finished).sum())} of {E} arenas still running after {max_ticks} ticks")
    return SideResult(reward=reward, controlled=controlled_at_start.sum(axis=1), **out)


# -- reports -----------------------------------------------------------------------------------------

def _outcome_rates(winner: np.ndarray) -> dict[str, float]:
    n = max(len(winner), 1)
    return {"pack_win": float((winner == 1).sum() / n), "party_win": float((winner == -1).sum() / n),
            "timeout": float((winner == 0).sum() / n)}


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _per_monster(reward: np.ndarray, controlled: np.ndarray) -> float:
    """Mean reward per controlled monster per encounter: Σ rewards / Σ monsters over all pairs."""
    total = controlled.sum()
    return float(reward.sum() / total) if total else float("nan")


def paired_outcomes(diff: np.ndarray) -> dict[str, Any]:
    """Counts of paired score differences (side − opponent): a win beyond WIN_MARGIN, a loss below −WIN_MARGIN,
    a tie between; the win rate (ties count as not won) with its Wilson 95% interval."""
    n = len(diff)
    wins, losses = int((diff > WIN_MARGIN).sum()), int((diff < -WIN_MARGIN).sum())
    low, high = wilson_interval(wins, n)
    return {"encounters": n, "wins": wins, "ties": n - wins - losses, "losses": losses,
            "win_rate": wins / n if n else float("nan"), "wilson_low": low, "wilson_high": high}


@dataclass
class PairedTotals:
    """Both sides of every pair played so far (concatenated over batches)."""

    ml: list[SideResult] = field(default_factory=list)
    traditional: list[SideResult] = field(default_factory=list)

    def cat(self, side: str, key: str) -> np.ndarray:
        parts = [getattr(r, key) for r in getattr(self, side)]
        return np.concatenate(parts) if parts else np.zeros(0)

    def summary(self) -> dict[str, Any]:
        return {**paired_outcomes(self.cat("ml", "score") - self.cat("traditional", "score")),
                "mean_score_ml": _mean(self.cat("ml", "score")),
                "mean_score_traditional": _mean(self.cat("traditional", "score")),
                "mean_reward_ml": _per_monster(self.cat("ml", "reward"), self.cat("ml", "controlled")),
                "mean_reward_traditional": _per_monster(self.cat("traditional", "reward"),
                                                        self.cat("traditional", "controlled"))}


@dataclass
class EvalReport:
    """Paired evaluation of one archetype's policy against the traditional AI (or another policy).

    Fields ending in `_ml` describe the policy's side, `_traditional` the opponent's side. Rewards are
    the archetype's own objective (step.reward of its monsters, summed over an encounter) per monster.
    """

    archetype: str
    scenarios: list[str]  # the scenarios played
    skipped_scenarios: list[str]  # asked for but holding no monster of the archetype
    encounters: int  # pairs played
    wins: int
    ties: int
    losses: int
    win_rate: float  # wins / encounters (ties count as not won)
    wilson_low: float
    wilson_high: float
    mean_score_ml: float
    mean_score_traditional: float
    mean_party_damage_ml: float
    mean_party_damage_traditional: float
    mean_pack_hp_ml: float
    mean_pack_hp_traditional: float
    mean_reward_ml: float
    mean_reward_traditional: float
    mean_steps_ml: float
    mean_steps_traditional: float
    outcomes_ml: dict[str, float]  # pack_win / party_win / timeout rates
    outcomes_traditional: dict[str, float]
    per_scenario: dict[str, dict[str, Any]]  # the pair counts, win rate, interval, scores, rewards per scenario
    seed: int
    seconds: float
    opponent: str = "traditional"

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-able: a mean without data (NaN) becomes None."""
        return _no_nan(asdict(self))


def _no_nan(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _batch_seed(seed: int, scenario_index: int, batch_index: int) -> int:
    """An independent arena seed per (evaluation seed, scenario, batch), the same for both sides."""
    return int(np.random.SeedSequence([seed, scenario_index, batch_index]).generate_state(1, np.uint32)[0])


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def _has_archetype(make: ArenaFactory, name: str, archetype_index: int, seed: int, probe: int) -> bool:
    arena = make(name, probe, seed)
    return bool((np.asarray(arena.archetype) == archetype_index).any())


def _paired(policy: Policy, opponent: Policy | None, archetype: str, scenarios: list[str], encounters: int,
            seed: int, num_arenas: int, progress: bool, make: ArenaFactory | None,
            opponent_label: str, hold: int = 1) -> EvalReport:
    if archetype not in ARCHETYPES:
        raise ValueError(f"unknown archetype {archetype!r}; expected one of {ARCHETYPES}")
    if encounters < 1 or num_arenas < 1:
        raise ValueError("encounters and num_arenas must be positive")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    make = make or _default_factory
    index = ARCHETYPES.index(archetype)
    started = time.perf_counter()
    # a one-arena probe tells whether the scenario holds the archetype (a pack is fixed by its scenario)
    played: list[tuple[int, str]] = []
    skipped: list[str] = []
    for i, name in enumerate(scenarios):
        if _has_archetype(make, name, index, _batch_seed(seed, i, 0), 1):
            played.append((i, name))
        else:
            log.warning("scenario %s has no %s monster: skipped", name, archetype)
            skipped.append(name)
    if not played:
        raise ValueError(f"none of the scenarios {scenarios} holds a {archetype} monster")
    counts = _split(encounters, len(played))
    plan = [(i, name, b, min(num_arenas, n - b * num_arenas))
            for (i, name), n in zip(played, counts, strict=True) for b in range(math.ceil(n / num_arenas))]
    totals: dict[str, PairedTotals] = {name: PairedTotals() for _, name in played}
    for i, name, b, size in tqdm(plan, desc=f"eval {archetype}", unit="batch", disable=not progress):
        batch_seed = _batch_seed(seed, i, b)
        # two fresh arenas from the same seed: both sides start bit-identical
        ml = play_side(make(name, size, batch_seed), policy, index, hold=hold)
        other = play_side(make(name, size, batch_seed), opponent, index, hold=hold)
        # a pair without a monster of the archetype compares the opponent with itself: not evidence
        keep = ml.controlled > 0
        if not keep.all():
            log.warning("%s: %d arenas without a %s monster left out", name, int((~keep).sum()), archetype)
        totals[name].ml.append(SideResult(**{k: v[keep] for k, v in asdict(ml).items()}))
        totals[name].traditional.append(SideResult(**{k: v[keep] for k, v in asdict(other).items()}))
    everything = PairedTotals([r for t in totals.values() for r in t.ml],
                              [r for t in totals.values() for r in t.traditional])
    summary = everything.summary()
    return EvalReport(
        archetype=archetype, scenarios=[name for _, name in played], skipped_scenarios=skipped,
        **summary,
        mean_party_damage_ml=_mean(everything.cat("ml", "party_damage")),
        mean_party_damage_traditional=_mean(everything.cat("traditional", "party_damage")),
        mean_pack_hp_ml=_mean(everything.cat("ml", "pack_hp")),
        mean_pack_hp_traditional=_mean(everything.cat("traditional", "pack_hp")),
        mean_steps_ml=_mean(everything.cat("ml", "steps")),
        mean_steps_traditional=_mean(everything.cat("traditional", "steps")),
        outcomes_ml=_outcome_rates(everything.cat("ml", "winner")),
        outcomes_traditional=_outcome_rates(everything.cat("traditional", "winner")),
        per_scenario={name: t.summary() for name, t in totals.items()},
        seed=seed, seconds=time.perf_counter() - started, opponent=opponent_label)


def _scenario_list(scenarios: Iterable[str] | str) -> list[str]:
    return [scenarios] if isinstance(scenarios, str) else list(scenarios)


def evaluate(policy: Policy, archetype: str, scenarios: list[str], encounters: int, seed: int,
             num_arenas: int = 256, progress: bool = True, *, arena_factory: ArenaFactory | None = None,
             hold: int = 1) -> EvalReport:
    """Paired evaluation of `policy` for `archetype` against the traditional-AI pack.

    `encounters` pairs are split evenly over the scenarios that hold a monster of the archetype (the
    others are skipped with a warning and listed in the report). Same arguments, same report (but
    `seconds`). arena_factory(name, num_arenas, seed) replaces trainers.arena.VecArena (tests). hold: the
    policy decides every `hold` ticks (play_side).
    """
    return _paired(policy, None, archetype, _scenario_list(scenarios), encounters, seed, num_arenas, progress,
                   arena_factory, "traditional", hold)


def _rename(value: Any, ml: str, opponent: str) -> Any:
    if isinstance(value, dict):
        return {_rename_key(k, ml, opponent): _rename(v, ml, opponent) for k, v in value.items()}
    return value


def _rename_key(key: str, ml: str, opponent: str) -> str:
    if key.endswith("_ml"):
        return key[: -len("_ml")] + f"_{ml}"
    if key.endswith("_traditional"):
        return key[: -len("_traditional")] + f"_{opponent}"
    return key


def compare(candidate: Policy, active: Policy, archetype: str, scenarios: list[str], encounters: int, seed: int,
            num_arenas: int = 256, progress: bool = True, *, arena_factory: ArenaFactory | None = None
            ) -> dict[str, Any]:
    """The paired protocol with the candidate's pack against the active model's pack (the monsters of the
    archetype act by one policy or the other; the rest of the pack plays traditional AI on both sides).

    Returns EvalReport.to_dict() with `_ml` fields named `_candidate` and `_traditional` fields `_active`;
    wins are the candidate's. Feed it to should_promote.
    """
    report = _paired(candidate, active, archetype, _scenario_list(scenarios), encounters, seed, num_arenas,
                     progress, arena_factory, "active")
    return _rename(report.to_dict(), "candidate", "active")


def should_promote(report: dict[str, Any] | EvalReport | None) -> bool:
    """Whether a candidate model replaces the active one for its archetype.

    report: compare(candidate, active, ...) (or an EvalReport of the same protocol); None when the
    archetype has no active model, in which case the candidate is promoted (anything trained and
    exported beats nothing; the serving levels' fallbacks still guard the game).

    Otherwise promote only if the candidate won more than half of all paired encounters against the
    active model AND the Wilson 95% lower bound of that rate is above 0.5, i.e. the candidate is
    better with reasonable confidence. Ties count as not won, so a candidate that plays like the active
    model is never promoted (no churn without evidence).
    """
    if report is None:
        return True
    data = report.to_dict() if isinstance(report, EvalReport) else report
    if not data.get("encounters"):
        return False
    return bool(data["win_rate"] > 0.5 and data["wilson_low"] > 0.5)


# -- command line ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", type=Path, required=True, help="served ONNX model (state or history input)")
    parser.add_argument("--archetype", required=True, choices=ARCHETYPES)
    parser.add_argument("--scenarios", nargs="*", help="scenario names (default: the split's with the archetype)")
    parser.add_argument("--split", default="train", choices=("train", "heldout"))
    parser.add_argument("--encounters", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-arenas", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hold", type=int, default=1, help="decide every HOLD ticks, keeping the action between")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    scenarios = args.scenarios
    if not scenarios:  # as the pipeline lists them, so that a seed gives the pipeline's encounters
        from trainers.pipeline import scenarios_with

        scenarios = scenarios_with(args.archetype, args.split)
    report = evaluate(onnx_policy(args.onnx, args.threads), args.archetype, scenarios, args.encounters, args.seed,
                      args.num_arenas, hold=args.hold)
    text = json.dumps(report.to_dict(), indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
