"""The lookahead teacher (trainers/lookahead.py), the arena copies it searches in, and the 11th model output
(action 255: leave the monster to the map server's own AI) through fusion and evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aiworld.mobs.state import ARCHETYPES, MODEL_OUTPUTS, TRADITIONAL_OUTPUT, Action, output_actions
from trainers import lookahead, networks
from trainers.arena import VecArena, load_scenario
from trainers.evaluate import evaluate
from trainers.fusion import FusedPolicy

TRAD = int(Action.TRADITIONAL_AI)
STATE_FIELDS = ("hp", "sp", "x", "y", "target", "cooldown", "stun", "mstate", "attack_cd", "h_left")


def played(arena: VecArena, ticks: int) -> VecArena:
    for _ in range(ticks):
        arena.step(np.full((arena.E, arena.M), TRAD, np.int16))
    return arena


def tank_of(arena: VecArena) -> int:
    return int(np.flatnonzero(np.asarray(arena.archetype)[0] == ARCHETYPES.index("tank"))[0])


def test_output_actions_maps_the_eleventh_output_to_255():
    assert output_actions(np.arange(MODEL_OUTPUTS)).tolist() == [*range(10), TRAD]
    assert lookahead.CANDIDATES.tolist() == [*range(10), TRAD]


def test_clone_rows_copies_arenas_mid_encounter_and_leaves_the_original_alone():
    arena = played(VecArena(load_scenario("crossroads"), 3, seed=5, auto_reset=False), 40)
    before = {name: getattr(arena, name).copy() for name in STATE_FIELDS}
    copies = arena.clone_rows(np.array([2, 0, 2]), seed=9)
    assert copies.E == 3 and not copies.auto_reset
    for name in STATE_FIELDS:
        assert np.array_equal(getattr(copies, name), before[name][[2, 0, 2]]), name
    # the coming tick's dice are copied too: one traditional tick gives the original's next state exactly
    played(copies, 1)
    for name in STATE_FIELDS:
        assert np.array_equal(getattr(arena, name), before[name]), f"{name} of the original changed"
    played(arena, 1)
    for name in STATE_FIELDS:
        assert np.array_equal(getattr(copies, name), getattr(arena, name)[[2, 0, 2]]), name
    for bad in (np.array([], np.int64), np.array([3]), np.array([[0]])):
        with pytest.raises(ValueError):
            arena.clone_rows(bad)


def test_candidates_share_their_dice_so_a_stunned_monster_values_every_candidate_alike():
    arena = played(VecArena(load_scenario("crossroads"), 2, seed=3, auto_reset=False), 60)
    tank = tank_of(arena)
    rows, monsters = np.array([0, 1]), np.array([tank, tank])
    free = lookahead.candidate_values(arena, rows, monsters, hold=5, horizon=40, seed=11)
    assert free.shape == (2, MODEL_OUTPUTS) and np.isfinite(free).all()
    assert (np.ptp(free, axis=1) > 0).any()  # what a free tank does changes the score
    assert np.array_equal(free, lookahead.candidate_values(arena, rows, monsters, 5, 40, seed=11))
    arena.stun[:, tank] = 1_000  # a stunned monster ignores its action: only the dice could tell them apart
    stunned = lookahead.candidate_values(arena, rows, monsters, hold=5, horizon=40, seed=11)
    assert np.ptp(stunned, axis=1).max() == 0.0
    with pytest.raises(ValueError):
        lookahead.candidate_values(arena, rows, monsters, hold=0, horizon=40, seed=1)


def test_continuations_average_plays_that_each_share_their_dice_across_the_candidates():
    arena = played(VecArena(load_scenario("crossroads"), 2, seed=3, auto_reset=False), 60)
    tank = tank_of(arena)
    # two continuations of one decision draw the dice of two single-play decisions on the same arena
    twice = lookahead.candidate_values(arena, np.array([1, 1]), np.array([tank, tank]), 5, 40, seed=13)
    assert not np.array_equal(twice[0], twice[1])  # other dice, other outcomes
    mean = lookahead.candidate_values(arena, np.array([1]), np.array([tank]), 5, 40, seed=13, continuations=2)
    assert mean.shape == (1, MODEL_OUTPUTS)
    np.testing.assert_allclose(mean[0], twice.mean(axis=0), atol=1e-6)
    arena.stun[:, tank] = 1_000
    stunned = lookahead.candidate_values(arena, np.array([0, 1]), np.array([tank, tank]), 5, 40, seed=13,
                                         continuations=3)
    assert np.ptp(stunned, axis=1).max() == 0.0
    with pytest.raises(ValueError):
        lookahead.candidate_values(arena, np.array([0]), np.array([tank]), 5, 40, seed=1, continuations=0)


def test_fresh_dice_do_not_replay_the_real_arenas_pending_tick():
    arena = played(VecArena(load_scenario("crossroads"), 4, seed=3, auto_reset=False), 60)
    tank = tank_of(arena)
    rows, monsters = np.arange(4), np.full(4, tank)

    def values(fresh: bool) -> np.ndarray:
        return lookahead.candidate_values(arena, rows, monsters, 5, 40, seed=17, fresh_dice=fresh)

    known, fresh = values(False), values(True)
    assert not np.array_equal(known, fresh)
    arena._u = np.random.default_rng(99).random(arena._u.shape, dtype=np.float32)  # other pending dice
    assert not np.array_equal(values(False), known)  # the default teacher sees them
    assert np.array_equal(values(True), fresh)  # a fresh-dice teacher does not
    arena.stun[:, tank] = 1_000  # still shared by the candidates
    assert np.ptp(values(True), axis=1).max() == 0.0


def test_redrawn_patterns_come_from_the_scenarios_choices_and_are_shared_by_a_plays_candidates():
    arena = played(VecArena(load_scenario("crossroads"), 2, seed=3, auto_reset=False), 60)
    real = arena.pattern.copy()
    copies = arena.clone_rows(np.repeat([0, 1], 3 * MODEL_OUTPUTS), seed=5)
    groups = np.repeat(np.arange(6), MODEL_OUTPUTS)  # 2 decisions x 3 plays, 11 candidates each
    lookahead._redraw_patterns(copies, groups, seed=5)
    for p, choices in enumerate(copies._pattern_choices):
        assert np.isin(copies.pattern[:, p], choices).all()
        per_play = copies.pattern[:, p].reshape(6, MODEL_OUTPUTS)
        assert (per_play == per_play[:, :1]).all()  # one draw per play, the same for its candidates
    assert np.array_equal(arena.pattern, real)  # the real arena keeps its party
    many = arena.clone_rows(np.zeros(200, np.int64), seed=1)
    lookahead._redraw_patterns(many, np.arange(200), seed=1)
    for p, choices in enumerate(many._pattern_choices):
        assert set(np.unique(many.pattern[:, p])) == set(choices.tolist())  # every choice is drawn


def test_a_teacher_that_redraws_patterns_values_other_plays():
    arena = played(VecArena(load_scenario("crossroads"), 4, seed=3, auto_reset=False), 60)
    tank = tank_of(arena)
    rows, monsters = np.arange(4), np.full(4, tank)

    def values(redraw: bool) -> np.ndarray:
        return lookahead.candidate_values(arena, rows, monsters, 5, 40, seed=17, continuations=2,
                                          redraw_patterns=redraw)

    known, redrawn = values(False), values(True)
    assert not np.array_equal(known, redrawn)
    assert np.array_equal(values(True), redrawn)  # seeded
    for p, choices in enumerate(arena._pattern_choices):  # another real party: the redrawing teacher does not see it
        arena.pattern[:, p] = choices[-1]
    assert np.array_equal(values(True), redrawn)
    arena.stun[:, tank] = 1_000  # still common random numbers across the candidates
    assert np.ptp(values(True), axis=1).max() == 0.0


def _continuation(arena: VecArena, policy, ticks_played: int = 60) -> lookahead.Continuation:
    """The real arena's working memory as collect() keeps it (one push per tick), and the tanks as played."""
    from trainers.evaluate import HistoryBuffer

    memory = HistoryBuffer(arena.E, arena.M)
    replay = VecArena(load_scenario("crossroads"), arena.E, seed=3, auto_reset=False)
    for _ in range(ticks_played):
        memory.push(replay.observe())
        played(replay, 1)
    states = replay.observe()
    memory.push(states)
    assert np.array_equal(states, arena.observe())  # the same encounter, tick for tick
    controlled = np.asarray(arena.archetype) == ARCHETYPES.index("tank")
    return lookahead.Continuation(policy, controlled, memory.histories(), states)


def test_a_continuation_policy_plays_the_copies_after_the_hold_as_served():
    arena = played(VecArena(load_scenario("crossroads"), 3, seed=3, auto_reset=False), 60)
    tank = tank_of(arena)
    assert (np.asarray(arena.archetype) == ARCHETYPES.index("tank")).sum(axis=1).tolist() == [1, 1, 1]
    rows, monsters = np.arange(3), np.full(3, tank)
    base = lookahead.candidate_values(arena, rows, monsters, 5, 40, seed=21, continuations=2)
    # handing back to the traditional AI: the same plays (observing the copies draws no dice)
    handed_back = _continuation(arena, lambda states, histories: np.full(len(states), TRAD))
    assert np.array_equal(base, lookahead.candidate_values(arena, rows, monsters, 5, 40, seed=21, continuations=2,
                                                           continuation=handed_back))
    # a policy that keeps retreating: after the hold, each candidate continues as MOVE_AWAY, so MOVE_AWAY's
    # value is that of holding it for the whole horizon without a continuation
    away = int(Action.MOVE_AWAY)
    calls: list[tuple[np.ndarray, np.ndarray]] = []

    def retreat(states: np.ndarray, histories: np.ndarray) -> np.ndarray:
        calls.append((states, histories))
        return np.full(len(states), away)

    follow = _continuation(arena, retreat)
    values = lookahead.candidate_values(arena, rows, monsters, 5, 40, seed=21, continuation=follow)
    held = lookahead.candidate_values(arena, rows, monsters, 40, 40, seed=21)
    np.testing.assert_array_equal(values[:, away], held[:, away])
    assert not np.array_equal(values, lookahead.candidate_values(arena, rows, monsters, 5, 40, seed=21))
    assert calls, "the continuation was never asked"
    # its first call (tick 5: the hold is over) sees the copies' 10 newest states, ending in the current one
    states, histories = calls[0]
    assert len(states) == 3 * MODEL_OUTPUTS and histories.shape == (len(states), 10, 64)
    np.testing.assert_array_equal(histories[:, -1], states)
    np.testing.assert_array_equal(histories[:, :5], np.repeat(follow.histories[:, tank, 5:], MODEL_OUTPUTS, axis=0))


def test_best_outputs_keeps_the_traditional_ai_on_ties_and_within_the_margin():
    values = np.array([[1.0] * 11, [1.0] * 10 + [0.5], [1.02] + [1.0] * 10, [0.9] * 10 + [1.0]], np.float32)
    assert lookahead.best_outputs(values).tolist() == [TRADITIONAL_OUTPUT, 0, 0, TRADITIONAL_OUTPUT]
    assert lookahead.best_outputs(values, margin=0.05).tolist() == [TRADITIONAL_OUTPUT, 0, TRADITIONAL_OUTPUT,
                                                                     TRADITIONAL_OUTPUT]


def test_collect_records_each_decision_with_its_values_and_what_was_played():
    settings = lookahead.LookaheadArgs(arenas=2, horizon=10, epsilon=0.5, seed=4)
    data = lookahead.collect("tank", ["crossroads"], batches=1, args=settings, progress=False)
    n = len(data["actions"])
    assert n > 10
    assert data["histories"].shape == (n, 10, 64) and data["values"].shape == (n, MODEL_OUTPUTS)
    assert np.array_equal(data["actions"], lookahead.best_outputs(data["values"]))
    assert data["taken"].min() >= 0 and data["taken"].max() <= TRADITIONAL_OUTPUT
    assert (data["taken"] != data["actions"]).any()  # exploration
    assert ((data["hp_loss"] >= 0) & (data["hp_loss"] <= 1)).all() and data["hp_loss"].max() > 0
    again = lookahead.collect("tank", ["crossroads"], batches=1, args=settings, progress=False)
    assert all(np.array_equal(data[k], again[k]) for k in data)  # seeded: the same decisions again


def test_a_behaviour_policy_plays_while_the_teacher_only_labels():
    settings = lookahead.LookaheadArgs(arenas=2, horizon=10, epsilon=0.0, seed=4)
    asked: list[np.ndarray] = []

    def always_retreat(histories: np.ndarray) -> np.ndarray:
        asked.append(histories)
        return np.full(len(histories), int(Action.MOVE_AWAY))

    data = lookahead.collect("tank", ["crossroads"], batches=1, args=settings, progress=False,
                             behaviour=always_retreat)
    assert (data["taken"] == int(Action.MOVE_AWAY)).all()  # what was played: the behaviour's choice
    assert np.array_equal(data["actions"], lookahead.best_outputs(data["values"]))  # what is learnt: the teacher's
    assert (data["actions"] != int(Action.MOVE_AWAY)).any()
    assert np.array_equal(np.concatenate(asked), data["histories"])
    teacher = lookahead.collect("tank", ["crossroads"], batches=1, args=settings, progress=False)
    assert not np.array_equal(teacher["taken"], data["taken"][:len(teacher["taken"])])


def test_fusion_pads_ten_output_members_and_a_255_policy_ties_every_pair():
    torch.manual_seed(0)
    ten, eleven = networks.build("combat_dqn"), networks.build("spatial_vit", n_actions=MODEL_OUTPUTS)
    fused = FusedPolicy({"combat_dqn": ten, "spatial_vit": eleven}, {"combat_dqn": 1.0, "spatial_vit": 3.0}).eval()
    history = torch.rand(5, 10, 64)
    with torch.no_grad():
        probs = torch.exp(fused(history))
        members = fused.member_probs(history)
    assert probs.shape == (5, MODEL_OUTPUTS)
    padded = torch.nn.functional.pad(members["combat_dqn"], (0, 1))
    assert torch.allclose(probs, (padded + 3.0 * members["spatial_vit"]) / 4.0, atol=1e-6)
    # a pack that always hands its tanks to the traditional AI plays exactly the traditional pack
    report = evaluate(lambda states, histories: np.full(len(states), TRAD), "tank", ["crossroads"], 4, seed=2,
                      num_arenas=4, progress=False)
    assert report.ties == 4 and report.wins == 0
