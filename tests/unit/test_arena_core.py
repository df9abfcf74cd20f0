"""VecArena: the API of the learning contract, determinism, encounters, movement and the action semantics."""

from __future__ import annotations

import numpy as np
import pytest

from aiworld.mobs.state import ARCHETYPES, STATE_SIZE, Action
from trainers.arena import VecArena, load_scenario
from trainers.arena.adventurers import PATTERNS
from trainers.arena.testing import hold, place, set_target, small_scenario

TRAD = Action.TRADITIONAL_AI


def random_actions(rng: np.random.Generator, E: int, M: int) -> np.ndarray:
    a = rng.integers(0, 10, (E, M)).astype(np.int16)
    return np.where(rng.random((E, M)) < 0.3, TRAD, a).astype(np.int16)


def test_contract_api_shapes_and_types():
    sc = load_scenario("open_field")
    A = VecArena(sc, num_arenas=3, seed=123, auto_reset=True)
    assert (A.M, A.P) == (len(sc.members), len(sc.party))
    assert A.archetype.dtype == np.int8 and A.archetype.shape == (3, A.M)
    assert [ARCHETYPES[i] for i in A.archetype[0]] == list(sc.archetypes)
    assert A.alive.dtype == bool and A.alive.shape == (3, A.M) and A.alive.all()
    s = A.observe()
    assert s.shape == (3, A.M, STATE_SIZE) and s.dtype == np.float32
    assert A.traditional_actions().dtype == np.int16 and A.traditional_actions().shape == (3, A.M)
    step = A.step(np.full((3, A.M), TRAD, np.int16))
    assert step.reward.shape == (3, A.M) and step.reward.dtype == np.float32
    assert step.done.shape == (3,) and step.done.dtype == bool
    for key in ("winner", "steps", "party_damage", "pack_hp", "score", "monsters_alive", "adventurers_alive"):
        assert step.outcome[key].shape == (3,)
    tp = A.target_pattern
    assert tp.dtype == np.int8 and tp.shape == (3, A.M) and ((tp >= -1) & (tp < len(PATTERNS))).all()
    with pytest.raises(ValueError):
        A.step(np.zeros((2, A.M), np.int16))


def test_same_seed_same_actions_identical_states_and_rewards():
    runs = []
    for _ in range(2):
        A = VecArena("ruins", 4, seed=7, auto_reset=True)
        rng = np.random.default_rng(0)
        states, rewards = [A.observe()], []
        for _ in range(250):
            r = A.step(random_actions(rng, A.E, A.M))
            states.append(A.observe())
            rewards.append(r.reward)
        runs.append((np.stack(states), np.stack(rewards)))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    other = VecArena("ruins", 4, seed=8, auto_reset=True)
    assert not np.array_equal(other.observe(), runs[0][0][0])


def test_reset_with_a_seed_replays_the_encounter():
    A = VecArena("crossroads", 2, seed=1)
    first = A.observe()
    for _ in range(30):
        A.step(np.full((2, A.M), TRAD, np.int16))
    A.reset(1)
    assert np.array_equal(A.observe(), first)


def test_encounters_end_and_restart_with_auto_reset():
    A = VecArena("crossroads", 8, seed=2, auto_reset=True)
    seen = 0
    for _ in range(A.max_steps + 1):
        r = A.step(np.full((A.E, A.M), TRAD, np.int16))
        if r.done.any():
            d = r.done
            seen += int(d.sum())
            o = r.outcome
            assert np.allclose(o["score"][d], o["party_damage"][d] + o["pack_hp"][d])
            assert ((o["score"][d] >= 0) & (o["score"][d] <= 2)).all()
            pack_won = o["winner"][d] == 1
            assert (o["adventurers_alive"][d][pack_won] == 0).all()
            assert (o["monsters_alive"][d][o["winner"][d] == -1] == 0).all()
            assert (o["steps"][d][o["winner"][d] == 0] == A.max_steps).all()
            assert r.final_states is not None and r.final_states[d].any()
            assert (A.steps[d] == 0).all() and A.alive[d].all()  # a new encounter already
    assert seen >= 8


def test_without_auto_reset_a_finished_arena_stays_finished():
    A = VecArena("crossroads", 4, seed=2, auto_reset=False)
    done_once = np.zeros(4, int)
    for _ in range(A.max_steps + 20):
        r = A.step(np.full((A.E, A.M), TRAD, np.int16))
        done_once += r.done
        assert (r.reward[A.finished & ~r.done] == 0).all()
    assert (done_once == 1).all() and A.finished.all()


def test_invariants_over_a_random_rollout():
    A = VecArena("swamp", 6, seed=9, auto_reset=True)
    rng = np.random.default_rng(1)
    for _ in range(300):
        r = A.step(random_actions(rng, A.E, A.M))
        assert A.map.walk_flat[A.cell].all()  # nobody stands in a wall or in water
        assert (A.cell == A.x * A.map.height + A.y).all()
        assert ((A.hp >= 0) & (A.hp <= A.max_hp + 1e-3)).all()
        assert ((A.sp >= 0) & (A.sp <= A.max_sp + 1e-3)).all()
        assert (A.hp[~A.alive_u] == 0).all()
        s = A.observe()
        assert s.min() >= 0 and s.max() <= 1 and np.isfinite(r.reward).all()


def _duel(members=("aggressive",), party=(("melee", "melee_nearest"),), E=2):
    A = VecArena(small_scenario(list(members), party=list(party), leader=None), E, seed=0, auto_reset=False)
    return A


def test_move_closer_and_away_and_flee():
    A = _duel()
    place(A, 0, 3, 5)
    place(A, A.M, 10, 5)
    hold(A)
    set_target(A, 0, A.M)
    A.refresh()
    for _ in range(10):
        A.step(np.full((2, 1), Action.MOVE_CLOSER, np.int16))
    assert (A.dist[:, 0, A.M] < 7).all()
    d = A.dist[:, 0, A.M].copy()
    for _ in range(10):
        A.step(np.full((2, 1), Action.MOVE_AWAY, np.int16))
    assert (A.dist[:, 0, A.M] > d).all() and (A.target[:, 0] == A.M).all()
    A.step(np.full((2, 1), Action.FLEE, np.int16))
    assert (A.target[:, 0] == -1).all()  # fleeing drops the target


def test_attack_out_of_range_does_nothing_and_change_target_switches():
    A = _duel(party=(("melee", "melee_nearest"), ("mage", "mage_bolter")))
    place(A, 0, 5, 5)
    place(A, A.M, 9, 5)
    place(A, A.M + 1, 5, 8)
    hold(A)
    set_target(A, 0, A.M)
    A.refresh()
    A.step(np.full((2, 1), Action.ATTACK, np.int16))
    assert (A.hp[:, A.M] == A.max_hp[A.M]).all() and (A.since_attack[:, 0] > 0).all()
    A.step(np.full((2, 1), Action.CHANGE_TARGET, np.int16))
    assert (A.target[:, 0] == A.M + 1).all() and (A.since_target[:, 0] == 0).all()


def test_skill_needs_cooldown_sp_and_range():
    A = _duel(E=1)
    place(A, 0, 5, 5)
    place(A, A.M, 6, 5)
    hold(A)
    set_target(A, 0, A.M)
    A.refresh()
    A.cooldown[0, 0, 0] = 5  # bash cooling down
    A.step(np.full((1, 1), Action.SKILL_1, np.int16))
    assert A.sp[0, 0] == pytest.approx(A.max_sp[0]) and A.since_attack[0, 0] > 0
    A.cooldown[0, 0, 0] = 0
    A.step(np.full((1, 1), Action.SKILL_1, np.int16))
    assert A.sp[0, 0] < A.max_sp[0] and A.cooldown[0, 0, 0] > 0  # bash went off


def test_damage_interrupts_a_cancelable_cast():
    A = _duel(members=("ranged",), party=(("mage", "mage_bolter"),), E=1)
    place(A, 0, 5, 5)
    place(A, A.M, 11, 5)
    set_target(A, 0, A.M)
    A.refresh()
    interrupted = False
    for _ in range(80):
        casting = A.cast_left[0, A.M] > 1
        before = A.hp[0, A.M]
        A.step(np.full((1, 1), Action.ATTACK, np.int16))
        if casting and A.hp[0, A.M] < before:
            assert A.cast_left[0, A.M] == 0 and A.cast_slot[0, A.M] == -1
            interrupted = True
    assert interrupted


def test_storm_leaves_a_damaging_area_the_monster_sees():
    A = _duel(members=("tank", "tank"), party=(("mage", "mage_nuker"),), E=1)
    place(A, 0, 5, 5)
    place(A, 1, 5, 6)
    place(A, A.M, 12, 5)
    A.refresh()
    A.cooldown[0, A.M, :] = [200, 0, 200]  # only the storm gust is ready
    A.step(np.full((1, 2), Action.IDLE, np.int16))  # the nuker starts its 3 s cast at the tanks
    assert A.cast_slot[0, A.M] == 1
    seen = False
    for _ in range(60):
        A.step(np.full((1, 2), Action.IDLE, np.int16))
        seen |= bool(A.observe()[0, 0, 20] == 1.0)
    assert seen and (A.hp[0, :2] < A.max_hp[:2]).all()


def test_target_pattern_reports_the_targets_pattern():
    sc = small_scenario(["aggressive"], party=[("ranged", "ranged_sniper")], leader=None)
    A = VecArena(sc, 2, seed=0)
    assert (A.target_pattern == -1).all()
    set_target(A, 0, A.M)
    A.refresh()
    sniper = [p.name for p in PATTERNS].index("ranged_sniper")
    assert (A.target_pattern == sniper).all()
