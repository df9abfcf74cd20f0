"""The traditional AI (action 255): rAthena's mob state machine in small hand-made situations."""

from __future__ import annotations

import numpy as np

from aiworld.mobs.state import Action
from trainers.arena import VecArena
from trainers.arena.testing import hold, place, set_target, small_scenario
from trainers.arena.units import MIN_RANDOMWALKTIME, MSS_BERSERK

TRAD = Action.TRADITIONAL_AI


def arena(members, party=(("melee", "melee_nearest"),), leader=None, E=4, seed=0) -> VecArena:
    return VecArena(small_scenario(members, party=party, leader=leader), E, seed=seed, auto_reset=False)


def run(A: VecArena, ticks: int) -> list[np.ndarray]:
    """Step every monster with 255; the actions the traditional AI played, tick by tick."""
    out = []
    for _ in range(ticks):
        out.append(A.step(np.full((A.E, A.M), TRAD, np.int16)).actions.copy())
    return out


def test_passive_monster_does_not_start_a_fight_but_an_aggressive_one_does():
    for archetype, engages in (("defensive", False), ("aggressive", True)):
        A = arena([archetype])
        place(A, 0, 5, 5)
        place(A, A.M, 10, 5)  # 5 cells away, in view and sight
        hold(A)
        A.refresh()
        acts = np.array(run(A, 30))
        if engages:
            assert (A.target[:, 0] == A.M).all()
            assert (acts[0, :, 0] == Action.MOVE_CLOSER).all()  # it locks on and starts chasing at once
            assert (A.hp[:, A.M] < A.max_hp[A.M]).all()
        else:
            assert (A.target[:, 0] == -1).all()
            assert not np.isin(acts, [Action.ATTACK, Action.MOVE_CLOSER, Action.SKILL_1, Action.SKILL_3]).any()
            assert (A.hp[:, A.M] == A.max_hp[A.M]).all()


def test_aggressive_monster_ignores_enemies_beyond_its_view_range():
    A = arena(["aggressive"])  # view range 12
    place(A, 0, 1, 5)
    place(A, A.M, 14, 5)  # 13 cells
    hold(A)
    A.refresh()
    run(A, 1)
    assert (A.target[:, 0] == -1).all()


def test_chase_then_attack_in_range():
    A = arena(["tank"])  # melee, aggressive, slow walker
    place(A, 0, 2, 5)
    place(A, A.M, 8, 5)
    hold(A)
    A.refresh()
    start = A.dist[:, 0, A.M].copy()
    acts = np.array(run(A, 40))[:, :, 0]
    assert (A.dist[:, 0, A.M] < start).all()
    assert (A.dist[:, 0, A.M] <= 1).all()
    first_attack = [np.flatnonzero(np.isin(a, [Action.ATTACK, Action.SKILL_1]))[0] for a in acts.T]
    for e, t in enumerate(first_attack):
        assert (acts[:t, e] == Action.MOVE_CLOSER).all()  # chased all the way, then fought
        assert np.isin(acts[t:, e], [Action.ATTACK, Action.SKILL_1, Action.SKILL_2, Action.SKILL_3]).all()
    assert (A.mstate[:, 0] == MSS_BERSERK).all()


def test_attack_respects_the_attack_delay():
    A = arena(["defensive"], E=1)
    place(A, 0, 5, 5)
    place(A, A.M, 6, 5)
    hold(A)
    set_target(A, 0, A.M)
    A.refresh()
    swings = []
    for t in range(60):
        before = A.since_attack[0, 0]
        A.step(np.full((1, 1), TRAD, np.int16))
        if A.since_attack[0, 0] == 0 and before != 0:
            swings.append(t)
    gaps = np.diff(swings)
    assert len(swings) >= 3 and (gaps >= A.adelay[0]).all()


def test_skill_by_condition_myhpltmaxrate():
    # defensive: heal_self (SKILL_2) when its HP <= 45 %, rate 5000, checked once a second while idle
    hurt, healthy = arena(["defensive"], E=8, seed=1), arena(["defensive"], E=8, seed=1)
    for A in (hurt, healthy):
        place(A, 0, 2, 2)
        place(A, A.M, 15, 11)  # out of view
        hold(A)
        A.refresh()
    hurt.hp[:, 0] = 0.3 * hurt.max_hp[0]
    acts_hurt = np.array(run(hurt, 80))[:, :, 0]
    acts_healthy = np.array(run(healthy, 80))[:, :, 0]
    used = (acts_hurt == Action.SKILL_2).any(axis=0)
    assert used.mean() >= 0.75
    assert (hurt.hp[used, 0] > 0.3 * hurt.max_hp[0]).all()  # the heal landed
    assert not (acts_healthy == Action.SKILL_2).any()


def test_skill_by_condition_friendhpltmaxrate():
    # support: heal (SKILL_2) a pack member within 8 cells below 65 %
    A = arena(["support", "tank"], E=8, seed=2)
    place(A, 0, 3, 3)
    place(A, 1, 6, 3)
    place(A, A.M, 15, 11)
    hold(A)
    A.refresh()
    A.hp[:, 1] = 0.4 * A.max_hp[1]
    acts = np.array(run(A, 80))[:, :, 0]
    used = (acts == Action.SKILL_2).any(axis=0)
    assert used.mean() >= 0.75
    assert (A.hp[used, 1] > 0.4 * A.max_hp[1]).all()


def test_skill_by_event_closedattacked():
    # defensive: stun counter (SKILL_1) when hit in melee, rate 3500, checked on the think after the hit
    A = arena(["defensive"], party=(("melee", "melee_nearest"),), E=8, seed=4)
    place(A, 0, 5, 5)
    place(A, A.M, 6, 5)
    A.refresh()
    countered = np.zeros(A.E, bool)
    for _ in range(60):
        hit_in_melee = (A.hit_flags[:, 0] & 1) != 0
        acts = A.step(np.full((A.E, A.M), TRAD, np.int16)).actions[:, 0]
        countered |= (acts == Action.SKILL_1) & hit_in_melee
        assert not ((acts == Action.SKILL_1) & ~hit_in_melee).any()  # its only stun-counter entry is the event
    assert countered.mean() >= 0.75


def test_assist_links_idle_monsters_of_the_same_archetype():
    for assist in (True, False):
        A = arena([{"archetype": "defensive", "assist": assist}, {"archetype": "defensive", "assist": assist}], E=2)
        place(A, 0, 5, 5)
        place(A, 1, 9, 5)
        place(A, A.M, 4, 5)
        hold(A)
        set_target(A, 0, A.M)
        A.refresh()
        run(A, 5)
        assert (A.target[:, 0] == A.M).all()
        assert (A.target[:, 1] == (A.M if assist else -1)).all()


def test_keeps_its_target_when_hit_by_another_adventurer():
    # rAthena mob_can_changetarget: in attack state without CHANGETARGET_MELEE the target is kept
    A = arena(["defensive"], party=(("melee", "melee_nearest"), ("ranged", "ranged_reckless")), E=2)
    place(A, 0, 5, 5)
    place(A, A.M, 6, 5)
    place(A, A.M + 1, 5, 10)
    hold(A, [A.M])
    set_target(A, 0, A.M)
    A.refresh()
    hit = False
    for _ in range(40):
        A.step(np.full((A.E, A.M), TRAD, np.int16))
        hit |= bool((A.last_attacker[:, 0] == A.M + 1).any())
        assert (A.target[:, 0] == A.M).all()
    assert hit  # the archer did shoot it


def test_attacked_passive_monster_fights_back():
    A = arena(["defensive"], party=(("ranged", "ranged_reckless"),), E=2)
    place(A, 0, 5, 5)
    place(A, A.M, 5, 10)
    A.refresh()
    run(A, 30)
    assert (A.target[:, 0] == A.M).all()


def test_random_walk_when_idle():
    A = arena(["aggressive"], E=4, seed=3)
    place(A, 0, 1, 1)
    place(A, A.M, 15, 11)  # 14 cells: beyond its view range (12)
    hold(A)
    A.refresh()
    acts = np.array(run(A, 70))[:, :, 0]
    first = [np.flatnonzero(a == Action.MOVE_RANDOM) for a in acts.T]
    assert all(len(f) > 0 and f[0] >= MIN_RANDOMWALKTIME - 1 for f in first)  # 4-5 s after spawn
    assert all((a[:f[0]] == Action.IDLE).all() for a, f in zip(acts.T, first, strict=True))  # stood until then
    assert ((A.x[:, 0] != 1) | (A.y[:, 0] != 1)).all()


def test_followers_return_to_their_leader():
    A = arena(["tank", "defensive"], leader=0, E=2)  # passive follower, leader out of the party's view
    place(A, 0, 2, 2)
    place(A, 1, 10, 9)
    place(A, A.M, 15, 11)
    hold(A)
    A.refresh()
    acts = np.array(run(A, 30))[:, :, 1]
    assert (acts[0] == Action.MOVE_CLOSER).all()
    assert (A.dist[:, 0, 1] <= 2).all()


def test_traditional_actions_is_pure_and_matches_the_step():
    A = VecArena("open_field", 8, seed=5, auto_reset=True)
    for _ in range(60):
        snapshot = (A.target.copy(), A.mstate.copy(), A.hp.copy())
        proposed = A.traditional_actions()
        again = A.traditional_actions()
        assert (proposed == again).all()
        assert all((a == b).all() for a, b in zip(snapshot, (A.target, A.mstate, A.hp), strict=True))
        played = A.step(np.full((A.E, A.M), TRAD, np.int16)).actions
        assert (played == proposed).all()
        assert np.isin(played, list(range(10))).all()
