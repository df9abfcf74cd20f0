"""The lookahead teacher: one step of policy improvement over the traditional AI, by search in arena copies.

At a decision point of a monster, every candidate (actions 0..9, and 255: keep the traditional AI) is played
for `hold` ticks in a copy of the arena (VecArena.clone_rows), then every monster plays the traditional AI
until `horizon` ticks have passed; the candidate's value is the encounter score (party_damage + pack_hp) at
that point. The candidates of one decision share their random numbers (common random numbers), so their
values differ by what the action changed, not by the dice. Playing the best candidate at every decision is
the greedy policy over the traditional AI's action values: policy improvement, as good as the traditional
AI or better up to the noise of the estimate (a candidate must beat 255 by `margin` to replace it). With
`continuations` > 1 each candidate is played that many times with other dice and valued by the mean, which
lowers that noise at a proportional cost.

Who plays between decisions is separate from what is recorded: the teacher's best candidate by default, or a
`behaviour` policy (a student), so that the recorded states are the ones the student meets and the teacher
says what it should have done there (DAgger, Ross et al. 2011; trainers/pipeline.py `dagger_from`).

The search runs at training time only. Its values are the supervised members' targets (trainers/pipeline.py),
so serving stays one forward pass. Output index 10 of those members is action 255 (aiworld.mobs.state
TRADITIONAL_OUTPUT): a model may hand a monster to the map server's own AI, which is what it learns to do
wherever the search found nothing better.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from aiworld.mobs.state import ARCHETYPES, INDEX, MODEL_OUTPUTS, TRADITIONAL_OUTPUT, Action, output_actions
from trainers.arena.units import NR

TRADITIONAL = int(Action.TRADITIONAL_AI)
CANDIDATES = output_actions(np.arange(MODEL_OUTPUTS))  # int16[11]: 0..9, 255
THREAT_HORIZON = 20  # ticks (2 s): the HP lost over this window is the threat model's target


@dataclass
class LookaheadArgs:
    hold: int = 5
    """ticks a candidate action is played before the traditional AI takes over (and between decisions)"""
    horizon: int = 60
    """ticks from the decision to the score that values it (6 s of game time)"""
    margin: float = 0.0
    """a candidate replaces 255 only if its value is higher by more than this"""
    epsilon: float = 0.2
    """share of decisions where the teacher plays a random candidate (its students must see the states
    those lead to, and the threat model every action's outcome)"""
    arenas: int = 16
    """encounters played together per batch"""
    continuations: int = 1
    """times each candidate is played (other dice each time, shared by the candidates); its value is the mean"""
    seed: int = 1
    """seeds the encounters, the copies' dice and the exploration"""
    fresh_dice: bool = False
    """True: the copies draw new dice from the decision's own tick on. False (versions 3 to 8): that first
    tick replays the real arena's dice, already drawn, which the teacher then knows and a student cannot"""
    redraw_patterns: bool = False
    """True: each play draws every adventurer's behaviour pattern anew from its scenario's choices (shared by
    the candidates of that play), so the values do not use the party's real patterns, which the state vector
    does not carry. False (the pipeline's default): the copies keep the real patterns"""


def best_outputs(values: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """int64[N]: per row of values float[N, 11] the best output index, TRADITIONAL_OUTPUT unless another
    candidate beats it by more than `margin` (ties keep the traditional AI)."""
    best = values.argmax(axis=1)
    gain = values[np.arange(len(values)), best] - values[:, TRADITIONAL_OUTPUT]
    return np.where(gain > margin, best, TRADITIONAL_OUTPUT)


def _shared_dice(arena, groups: np.ndarray, seed: int) -> None:
    """Make the copies of one group draw identical random blocks from the next tick on."""
    rng = np.random.default_rng(seed)
    count = int(groups.max()) + 1

    def draw() -> None:
        arena._u = rng.random((NR, count, arena.U), dtype=np.float32)[:, groups]

    arena._draw = draw


def _redraw_patterns(copies, groups: np.ndarray, seed: int) -> None:
    """Give each group of copies one fresh draw of the party's patterns from the scenario's choices."""
    draw = np.random.default_rng([seed, 1]).random((int(groups.max()) + 1, copies.P))
    for p, choices in enumerate(copies._pattern_choices):
        picked = choices[np.minimum((draw[:, p] * len(choices)).astype(np.int64), len(choices) - 1)]
        copies.pattern[:, p] = picked[groups]


def candidate_values(arena, arenas: np.ndarray, monsters: np.ndarray, hold: int, horizon: int,
                     seed: int, continuations: int = 1, fresh_dice: bool = False,
                     redraw_patterns: bool = False, continuation: Continuation | None = None) -> np.ndarray:
    """float32[n, 11]: the value of each candidate (CANDIDATES order) for the monster `monsters[i]` of arena
    `arenas[i]`, from copies of `arena` (which is not changed): the mean over `continuations` plays, each
    with its own dice (and with `redraw_patterns` its own party patterns) shared by the 11 candidates. See the
    module docstring and LookaheadArgs.fresh_dice / redraw_patterns. With a `continuation`, the monsters it
    controls play its policy in the copies instead of the traditional AI (the deciding one after its hold)."""
    if not 0 < hold <= horizon:
        raise ValueError(f"need 0 < hold <= horizon, got hold={hold} horizon={horizon}")
    if continuations < 1:
        raise ValueError(f"need at least one continuation, got {continuations}")
    n, c, k = len(arenas), len(CANDIDATES), continuations
    if n == 0:
        return np.zeros((0, c), np.float32)
    copies = arena.clone_rows(np.repeat(arenas, k * c), seed)  # decision-major, then continuation, then candidate
    groups = np.repeat(np.arange(n * k), c)
    _shared_dice(copies, groups, seed)
    if redraw_patterns:
        _redraw_patterns(copies, groups, seed)
    if fresh_dice:
        copies._draw()  # replace the real arena's block for this tick, which clone_rows copied
    rows = np.arange(copies.E)
    who = np.repeat(monsters, k * c)
    what = np.tile(CANDIDATES, n * k)
    actions = np.full((copies.E, copies.M), TRADITIONAL, np.int16)
    if continuation is not None:
        from trainers.evaluate import HistoryBuffer

        copied = np.repeat(arenas, k * c)
        played_by = continuation.controlled[copied]
        memory = HistoryBuffer.holding(continuation.histories[copied])
    for t in range(horizon):
        actions.fill(TRADITIONAL)
        if continuation is not None:
            states = continuation.first_states[copied] if t == 0 else copies.observe()
            if t > 0:  # the first state is already the newest of the copied histories
                memory.push(states)
            acting = played_by & copies.alive & ~copies.finished[:, None]
            if t < hold:
                acting[rows, who] = False
            if acting.any():
                actions[acting] = continuation.policy(states[acting], memory.gather(acting))
        if t < hold:
            actions[rows, who] = what
        copies.step(actions)
        if copies.finished.all():
            break
    return copies._scores()[2].reshape(n, k, c).mean(axis=1).astype(np.float32)


@dataclass
class Continuation:
    """Who plays the copies after a candidate's hold, instead of the traditional AI: the monsters where
    `controlled` (bool[E, M] of the real arena) is set play `policy` every tick, as served (the candidate's own
    monster once its hold is over, the others from the first tick). The search then values each candidate
    followed by that policy: one step of policy improvement over the policy itself rather than over the
    traditional AI (approximate policy iteration). `histories` (float32[E, M, 10, W]) and `first_states`
    (float32[E, M, W]) are the real arena's working memory and states at the decision tick."""

    policy: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (states [n, W], histories [n, 10, W]) -> action ids
    controlled: np.ndarray
    histories: np.ndarray
    first_states: np.ndarray


def search(arena, controlled: np.ndarray, args: LookaheadArgs, rng: np.random.Generator,
           continuation: Continuation | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """One decision point of the teacher: every living, unfinished monster where `controlled` (bool[E, M]) is
    set gets its candidates valued. Returns (deciding bool[E, M], values float32[n, 11], best int64[n]) in
    the row-major order of `deciding`, or None when no monster decides (no random number is drawn then)."""
    deciding = controlled & arena.alive & ~arena.finished[:, None]
    if not deciding.any():
        return None
    ea, ma = np.nonzero(deciding)
    values = candidate_values(arena, ea, ma, args.hold, args.horizon, int(rng.integers(2**31)), args.continuations,
                              args.fresh_dice, args.redraw_patterns, continuation)
    return deciding, values, best_outputs(values, args.margin)


Behaviour = Callable[[np.ndarray], np.ndarray]  # histories float32[n, 10, 64] -> output indices int[n] (10 = 255)


def collect(archetype: str, scenarios: list[str], batches: int, args: LookaheadArgs,
            progress: bool = True, behaviour: Behaviour | None = None,
            arena_class: type | None = None,
            continuation_policy: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
            ) -> dict[str, np.ndarray]:
    """`batches` batches of `args.arenas` encounters, cycling over the scenarios; the archetype's monsters
    decide every `hold` ticks (the rest of the pack plays the traditional AI). At each decision the teacher
    values every candidate; what is played is a random candidate (share `epsilon`), else `behaviour`'s
    choice, or the teacher's best when there is no behaviour policy.

    Returns, per decision: histories float32[N, 10, 64] (the L1 working memory), values float32[N, 11],
    actions int64[N] (best_outputs), taken int64[N] (what was played: the best or a random candidate),
    hp_loss float32[N] (the monster's HP ratio lost over the next THREAT_HORIZON ticks, or to the end of
    its encounter) and patterns int64[N] (its target's behaviour pattern, -1 none). `arena_class` replaces
    VecArena (a subclass whose observe() returns more than the 64 values: bench/wide_inputs.py).
    `continuation_policy` (states, histories -> action ids, as trainers.evaluate policies): the archetype's
    monsters play it in the search's copies instead of the traditional AI (Continuation)."""
    from trainers.arena import VecArena, load_scenario
    from trainers.evaluate import HistoryBuffer

    arena_class = arena_class or VecArena

    if not scenarios:
        raise ValueError(f"no scenario to collect {archetype} decisions in")
    index = ARCHETYPES.index(archetype)
    rng = np.random.default_rng([args.seed, 7])
    parts: list[dict[str, np.ndarray]] = []
    for b in tqdm(range(batches), desc=f"{archetype} lookahead", unit="batch", disable=not progress):
        name = scenarios[b % len(scenarios)]
        arena = arena_class(load_scenario(name), args.arenas, seed=int(rng.integers(2**31)), auto_reset=False)
        E, M = arena.archetype.shape
        memory = HistoryBuffer(E, M, width=arena.state_size)
        controlled = np.asarray(arena.archetype) == index
        played = np.full((E, M), TRADITIONAL, np.int16)
        hp: list[np.ndarray] = []
        decisions: list[tuple] = []
        t = 0
        while not arena.finished.all():
            states = arena.observe()
            memory.push(states)
            hp.append(states[..., INDEX["hp_ratio"]].copy())
            if t % args.hold == 0:
                played.fill(TRADITIONAL)
                follow = None if continuation_policy is None else Continuation(
                    continuation_policy, controlled, memory.histories(), states)
                found = search(arena, controlled, args, rng, follow)
                if found is not None:
                    deciding, values, best = found
                    ea, ma = np.nonzero(deciding)
                    histories = memory.gather(deciding)
                    explore = rng.random(len(ea)) < args.epsilon
                    chosen = best if behaviour is None else np.asarray(behaviour(histories), np.int64)
                    taken = np.where(explore, rng.integers(0, len(CANDIDATES), len(ea)), chosen)
                    played[ea, ma] = CANDIDATES[taken]
                    decisions.append((t, ea, ma, histories, values, best, taken,
                                      arena.target_pattern[deciding].astype(np.int64)))
            arena.step(played)
            t += 1
        hp.append(arena.observe()[..., INDEX["hp_ratio"]].copy())
        trace = np.stack(hp)  # [ticks + 1, E, M]; a finished arena stays frozen, so its HP stays put
        for t0, ea, ma, histories, values, best, taken, patterns in decisions:
            later = trace[min(t0 + THREAT_HORIZON, len(trace) - 1), ea, ma]
            parts.append({"histories": histories, "values": values, "actions": best.astype(np.int64),
                          "taken": taken.astype(np.int64),
                          "hp_loss": np.clip(trace[t0, ea, ma] - later, 0.0, 1.0).astype(np.float32),
                          "patterns": patterns})
    if not parts:
        raise RuntimeError(f"no {archetype} monster made a decision in {scenarios}")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
