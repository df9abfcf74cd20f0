"""Rewards per archetype against what the actions did."""

from __future__ import annotations

import numpy as np
import pytest

from aiworld.mobs.state import ARCHETYPES, Action
from trainers.arena import VecArena
from trainers.arena.rewards import TERMS, WEIGHT_TABLE, WEIGHTS
from trainers.arena.testing import hold, place, set_target, small_scenario


def arena(members, party=(("melee", "melee_nearest"),), E=4, seed=0) -> VecArena:
    return VecArena(small_scenario(members, party=party, leader=None), E, seed=seed, auto_reset=False)


def act(A: VecArena, *actions: int):
    return A.step(np.tile(np.array(actions, np.int16), (A.E, 1)))


def test_weights_cover_every_archetype_and_term():
    assert set(WEIGHTS) == set(ARCHETYPES)
    assert WEIGHT_TABLE.shape == (len(ARCHETYPES), len(TERMS))
    for w in WEIGHTS.values():
        assert w["died"] < 0 and w["taken"] < 0 and w["team"] > 0 and w["outcome"] > 0
    assert WEIGHTS["aggressive"]["dealt"] == max(w["dealt"] for w in WEIGHTS.values())
    assert WEIGHTS["support"]["healed"] == max(w["healed"] for w in WEIGHTS.values())
    assert WEIGHTS["tank"]["aggro"] > 0 and WEIGHTS["ranged"]["far"] > 0 and WEIGHTS["mage"]["magic"] > 0


def test_an_attack_that_lands_pays_the_aggressive():
    A = arena(["aggressive"], E=8)
    place(A, 0, 5, 5)
    place(A, A.M, 6, 5)
    hold(A)
    set_target(A, 0, A.M)
    A.refresh()
    landed = 0
    for _ in range(30):
        before = A.hp[:, A.M].copy()
        r = act(A, Action.ATTACK)
        hit = A.hp[:, A.M] < before
        landed += int(hit.sum())
        assert (r.reward[hit, 0] > 0).all()
        assert (r.reward[~hit, 0] == 0).all()  # waiting out the attack delay (or a miss) earns nothing
    assert landed >= 8


def test_flee_or_idle_at_full_hp_does_not_pay():
    A = arena(["aggressive", "defensive"], E=4)
    place(A, 0, 1, 1)
    place(A, 1, 1, 3)
    place(A, A.M, 15, 11)
    hold(A)
    A.refresh()
    for _ in range(10):
        r = act(A, Action.FLEE, Action.IDLE)
        assert (r.reward == 0).all()


def test_a_heal_on_a_hurt_ally_pays_the_support_and_one_on_a_healthy_ally_does_not():
    for hurt in (True, False):
        A = arena(["support", "tank"], E=2)
        place(A, 0, 3, 3)
        place(A, 1, 5, 3)
        place(A, A.M, 15, 11)
        hold(A)
        A.refresh()
        if hurt:
            A.hp[:, 1] = 0.4 * A.max_hp[1]
            A.refresh()
        total_support = np.zeros(A.E)
        total_tank = np.zeros(A.E)
        r = act(A, Action.SKILL_2, Action.IDLE)  # heal: a 1 s cast
        assert (A.cast_left[:, 0] > 0).all()
        total_support += r.reward[:, 0]
        for _ in range(12):
            r = act(A, Action.IDLE, Action.IDLE)
            total_support += r.reward[:, 0]
            total_tank += r.reward[:, 1]
        if hurt:
            assert (A.hp[:, 1] > 0.4 * A.max_hp[1]).all()
            assert (total_support > total_tank).all() and (total_tank > 0).all()  # the team term for the tank
        else:
            assert (total_support == 0).all() and (total_tank == 0).all()


def test_dying_costs():
    A = arena(["aggressive"], E=4)
    place(A, 0, 5, 5)
    place(A, A.M, 6, 5)  # a knight that is free to hit it
    A.hp[:, 0] = 1.0
    A.refresh()
    died = np.zeros(A.E, bool)
    for _ in range(40):
        alive = A.alive[:, 0].copy()
        r = act(A, Action.IDLE)
        now_dead = alive & ~A.alive[:, 0]
        assert (r.reward[now_dead, 0] < WEIGHTS["aggressive"]["died"]).all()  # dying, and here losing too
        died |= now_dead
        if died.all():
            break
    assert died.all()


def test_the_ranged_archetype_is_paid_more_for_damage_at_a_distance():
    rewards = {}
    for gap in (1, 5):
        A = arena(["ranged"], E=8, seed=4)
        place(A, 0, 5, 5)
        place(A, A.M, 5 + gap, 5)
        hold(A)
        set_target(A, 0, A.M)
        A.refresh()
        per_damage = []
        for _ in range(30):
            before = A.hp[:, A.M].copy()
            r = act(A, Action.ATTACK)
            dealt = before - A.hp[:, A.M]
            hit = dealt > 0
            per_damage += list(r.reward[hit, 0] / dealt[hit])
        rewards[gap] = np.mean(per_damage)
    assert rewards[5] > rewards[1] * 1.15  # the shared team term is the same at both distances


def test_the_tank_is_paid_for_drawing_the_party():
    A = arena(["tank"], party=(("melee", "melee_nearest"), ("ranged", "ranged_reckless")), E=2)
    place(A, 0, 5, 5)
    place(A, A.M, 10, 10)
    place(A, A.M + 1, 12, 10)
    hold(A)
    A.target[:, A.M:] = 0  # both adventurers target the tank
    A.refresh()
    r = act(A, Action.IDLE)
    assert r.reward[:, 0] == pytest.approx(2 * WEIGHTS["tank"]["aggro"])


def test_winning_pays_every_member_and_losing_costs():
    for pack_wins in (True, False):
        A = arena(["aggressive", "support"], E=2)
        place(A, 0, 5, 5)
        place(A, 1, 1, 1)
        place(A, A.M, 6, 5)
        if pack_wins:
            hold(A)
            A.hp[:, A.M] = 1.0
            set_target(A, 0, A.M)
        else:
            A.hp[:, 0] = A.hp[:, 1] = 1.0
            A.alive_u[:, 1] = False
            A.hp[:, 1] = 0.0
        A.refresh()
        for _ in range(60):
            r = act(A, Action.ATTACK if pack_wins else Action.IDLE, Action.IDLE)
            if r.done.all():
                break
        assert r.done.all()
        assert (r.outcome["winner"] == (1 if pack_wins else -1)).all()
        if pack_wins:
            assert (r.reward[:, 1] >= WEIGHTS["support"]["outcome"]).all()  # the support did nothing but won
        else:
            assert (r.reward[:, 1] == -WEIGHTS["support"]["outcome"]).all()  # long dead, still loses
