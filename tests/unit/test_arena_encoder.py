"""observe() pinned index by index: hand-built situations, expectations computed here from what was set."""

from __future__ import annotations

import numpy as np
import pytest

from aiworld.mobs.state import INDEX, LAYOUT, STATE_SIZE, Action
from trainers.arena import VecArena
from trainers.arena.core import FAR, TREND_TICKS
from trainers.arena.testing import place, small_scenario
from trainers.arena.units import STATS

W, H = 24, 12
FLAGS = [i for i, name, _, meaning in LAYOUT if meaning.startswith("flag")]


def grid_text() -> str:
    rows = [["."] * W for _ in range(H)]

    def put(x: int, y: int, ch: str) -> None:
        rows[H - 1 - y][x] = ch  # the first text row is the north edge

    put(3, 6, "#")  # wall north of monster 0
    put(2, 5, "~")  # water west of monster 0
    put(0, 11, "M")
    put(23, 0, "A")
    return "\n".join("".join(r) for r in rows)


@pytest.fixture(scope="module")
def situation():
    """m0 support (leader) at (3,5), m1 tank (boss, not aggressive) at (5,5), m2 aggressive (guard) at (10,5),
    m3 mage (immobile) at (20,5); a0 melee at (3,9) behind the wall, a1 mage at (9,4)."""
    sc = small_scenario(
        [{"archetype": "support"}, {"archetype": "tank", "aggressive": False, "boss": True},
         {"archetype": "aggressive", "guard": True}, {"archetype": "mage", "can_move": False}],
        party=[("melee", "melee_nearest"), ("mage", "mage_bolter")], leader=0, grid=grid_text())
    A = VecArena(sc, 2, seed=3, auto_reset=False)
    M = A.M
    a0, a1 = M, M + 1
    for unit, (x, y) in enumerate([(3, 5), (5, 5), (10, 5), (20, 5), (3, 9), (9, 4)]):
        place(A, unit, x, y)
    A.spawn_cell[:, 0] = 3 * H + 0  # m0 spawned 5 cells south
    mh, ms = A.max_hp, A.max_sp
    A.hp[:, 0] = 0.5 * mh[0]
    A.hp[:, 1] = 0.8 * mh[1]
    A.hp[:, 2] = 0.4 * mh[2]
    A.hp[:, a0] = 0.7 * mh[a0]
    A.sp[:, 0] = 0.25 * ms[0]
    A.sp[:, 1] = 10.0
    A.buff_atk_t[:, 0], A.buff_atk[:, 0] = 10, 0.25
    A.buff_def_t[:, 0], A.buff_def[:, 0] = 10, 0.5
    A.debuff_def_t[:, 0], A.debuff_def[:, 0] = 10, 0.2
    A.slow[:, 0] = 10
    A.cast_left[:, 0] = 3
    A.stun[:, 1] = 7
    A.target[:, 0], A.target[:, 1], A.target[:, 2] = a0, a1, a1
    A.cast_left[:, a0] = 5
    A.h_left[:, 0], A.h_x[:, 0], A.h_y[:, 0], A.h_radius[:, 0], A.h_side[:, 0] = 10, 3, 5, 1, 1  # the party's
    A.h_left[:, 1], A.h_x[:, 1], A.h_y[:, 1], A.h_radius[:, 1], A.h_side[:, 1] = 10, 10, 5, 1, 0  # the pack's
    A.threat_sum[:, 0] = 0.3 * mh[0]
    A.since_attack[:, 0] = 20
    A.since_damaged[:, 0] = 5
    A.since_damaged[:, 2] = FAR
    A.since_target[:, 0] = 50
    A.cooldown[:, 0] = [20, 0, 200]
    old = (A.steps_total + 1) % TREND_TICKS
    A.hp_ring[old, :, 0] = 0.7
    A.hp_ring[old, :, a0] = 0.9
    A.combat[:, 0] = 300
    A.last_action[:, 0] = Action.TRADITIONAL_AI
    A.last_action[:, 1] = Action.MOVE_AWAY
    A.refresh()
    return A, A.observe()


def test_layout_shape_range_and_flags(situation):
    A, s = situation
    assert s.shape == (2, A.M, STATE_SIZE) and s.dtype == np.float32
    assert s.min() >= 0.0 and s.max() <= 1.0
    assert np.isin(s[..., FLAGS], (0.0, 1.0)).all()


def test_self_block(situation):
    A, s = situation
    st, c = STATS["support"], INDEX
    m0 = s[0, 0]
    assert m0[c["hp_ratio"]] == pytest.approx(0.5)
    assert m0[c["sp_ratio"]] == pytest.approx(0.25)
    assert m0[c["level"]] == pytest.approx(st.level / 200)
    assert m0[c["atk"]] == pytest.approx(st.atk * 1.25 / 2000)
    assert m0[c["def"]] == pytest.approx(st.def_ * 1.5 * 0.8 / 200)
    assert m0[c["matk"]] == pytest.approx(st.matk * 1.25 / 2000)
    assert m0[c["mdef"]] == pytest.approx(st.mdef * 1.5 * 0.8 / 200)
    assert m0[c["move_speed"]] == pytest.approx(1 - 2 * st.walk / 1000)  # slowed: walk delay doubled
    assert s[0, 1, c["move_speed"]] == pytest.approx(1 - STATS["tank"].walk / 1000)
    assert m0[c["attack_range"]] == pytest.approx(st.range / 14)
    assert s[0, 3, c["attack_range"]] == pytest.approx(STATS["mage"].range / 14)
    assert m0[c["attack_delay"]] == pytest.approx(st.adelay / 4000)
    assert (m0[c["is_casting"]], s[0, 1, c["is_casting"]]) == (1.0, 0.0)
    assert (m0[c["is_disabled"]], s[0, 1, c["is_disabled"]]) == (0.0, 1.0)


def test_environment_block(situation):
    A, s = situation
    c = INDEX
    m0 = s[0, 0]
    assert m0[c["pos_x"]] == pytest.approx(3 / W) and m0[c["pos_y"]] == pytest.approx(5 / H)
    assert [m0[c[k]] for k in ("blocked_north", "blocked_east", "blocked_south", "blocked_west")] == [1, 0, 0, 1]
    assert s[0, 1, c["blocked_north"]] == 0.0
    # a0 is straight north of m0 behind the wall: no sight; m1 -> a1 over open floor: sight
    assert m0[c["target_in_sight"]] == 0.0
    assert s[0, 1, c["target_in_sight"]] == 1.0
    assert s[0, 3, c["target_in_sight"]] == 0.0  # no target
    assert m0[c["spawn_distance"]] == pytest.approx(5 / 14)
    assert m0[c["on_hazard"]] == 1.0  # inside the party's area
    assert s[0, 2, c["on_hazard"]] == 0.0  # inside its own pack's area only
    assert m0[c["open_space"]] == pytest.approx(23 / 25)  # one wall and one water cell in the 5x5
    assert s[0, 3, c["open_space"]] == pytest.approx(1.0)


def test_social_block(situation):
    A, s = situation
    c = INDEX
    m0, m1, m3 = s[0, 0], s[0, 1], s[0, 3]
    assert m0[c["allies_nearby"]] == pytest.approx(2 / 10)  # m1 at 2 cells, m2 at 7; m3 at 17 is out of view
    assert m0[c["allies_avg_hp"]] == pytest.approx((0.8 + 0.4) / 2)
    assert m0[c["ally_lowest_hp"]] == pytest.approx(0.4)
    assert m3[c["allies_nearby"]] == pytest.approx(1 / 10)  # m2 at 10 cells
    assert (m0[c["is_leader"]], m1[c["is_leader"]]) == (1.0, 0.0)
    assert m0[c["pack_size"]] == pytest.approx(4 / 10)
    assert m0[c["leader_distance"]] == 0.0 and m1[c["leader_distance"]] == pytest.approx(2 / 14)
    assert m0[c["allies_in_combat"]] == pytest.approx(2 / 10)  # m1 and m2 have targets
    assert (m0[c["ally_healer_near"]], m1[c["ally_healer_near"]]) == (0.0, 1.0)  # m0 is the support
    assert (m0[c["protect_leader"]], m1[c["protect_leader"]]) == (0.0, 1.0)  # the leader was hit 0.5 s ago


def test_tactical_block(situation):
    A, s = situation
    c = INDEX
    m0, m1, m2, m3 = s[0]
    assert m0[c["enemy_count"]] == pytest.approx(2 / 10) and m3[c["enemy_count"]] == pytest.approx(1 / 10)
    assert m0[c["target_distance"]] == pytest.approx(4 / 14)
    assert m3[c["target_distance"]] == 1.0
    assert m0[c["threat"]] == pytest.approx(0.3)
    assert m0[c["target_hp"]] == pytest.approx(0.7) and m3[c["target_hp"]] == 0.0
    assert (m0[c["target_casting"]], m1[c["target_casting"]]) == (1.0, 0.0)
    role = [c["target_melee"], c["target_ranged"], c["target_mage"], c["target_support"]]
    assert list(m0[role]) == [1, 0, 0, 0] and list(m1[role]) == [0, 0, 1, 0] and list(m3[role]) == [0, 0, 0, 0]
    assert (m0[c["target_in_range"]], m2[c["target_in_range"]]) == (0.0, 1.0)  # 4 cells vs 1 cell, range 1
    assert m0[c["nearest_enemy_distance"]] == pytest.approx(4 / 14)
    assert m3[c["nearest_enemy_distance"]] == pytest.approx(11 / 14)
    assert (m0[c["has_target"]], m3[c["has_target"]]) == (1.0, 0.0)


def test_temporal_block(situation):
    A, s = situation
    c = INDEX
    m0, m1, m2, m3 = s[0]
    assert m0[c["since_attack"]] == pytest.approx(20 / 50)
    assert m0[c["since_damaged"]] == pytest.approx(5 / 50) and m2[c["since_damaged"]] == 1.0
    # cooldown ratios: 20 ticks of slow's 80, none, 200 of blessing's 200
    assert m0[c["skill1_cooldown"]] == pytest.approx(20 / 80)
    assert m0[c["skill2_cooldown"]] == 0.0
    assert m0[c["skill3_cooldown"]] == pytest.approx(1.0)
    assert m0[c["hp_trend"]] == pytest.approx(0.5 + (0.5 - 0.7) / 2)
    assert m0[c["target_hp_trend"]] == pytest.approx(0.5 + (0.7 - 0.9) / 2)
    assert m3[c["target_hp_trend"]] == 0.5
    assert m0[c["combat_time"]] == pytest.approx(300 / 600)
    assert (m0[c["last_action"]], m1[c["last_action"]], m2[c["last_action"]]) == pytest.approx((1.0, 0.3, 0.0))
    assert m0[c["since_target_change"]] == pytest.approx(50 / 100)


def test_goals_block(situation):
    A, s = situation
    c = INDEX
    m0, m1, m2, m3 = s[0]
    assert [m[c["mode_aggressive"]] for m in (m0, m1, m2, m3)] == [0, 0, 1, 1]  # the tank's mode was overridden
    assert [m[c["mode_assist"]] for m in (m0, m1, m2, m3)] == [1, 0, 0, 0]
    assert [m[c["mode_cast_sensor"]] for m in (m0, m1, m2, m3)] == [0, 0, 0, 1]
    assert [m[c["mode_can_move"]] for m in (m0, m1, m2, m3)] == [1, 1, 1, 0]
    assert [m[c["is_boss"]] for m in (m0, m1, m2, m3)] == [0, 1, 0, 0]
    ready = [c["skill1_ready"], c["skill2_ready"], c["skill3_ready"]]
    assert list(m0[ready]) == [0, 1, 0]  # cooling down, ready, cooling down
    assert list(m1[ready]) == [0, 0, 0]  # no cooldowns but 10 SP
    assert list(m2[ready]) == [1, 1, 1]
    # m2 can step away from a1; m3 cannot move; m0 is boxed in by the wall, the water and the corner rule
    # (its only legal steps, E, S and SE, all keep it within 5 steps of a0)
    assert (m2[c["can_flee"]], m3[c["can_flee"]], m0[c["can_flee"]]) == (1.0, 0.0, 0.0)
    assert [m[c["guard_post"]] for m in (m0, m1, m2, m3)] == [0, 0, 1, 0]
    assert (s[..., c["reserved"]] == 0).all()


def test_dead_leader_lonely_and_cornered():
    sc = small_scenario(["support", "tank", "aggressive"], party=[("melee", "melee_nearest")], leader=0)
    A = VecArena(sc, 1, seed=0, auto_reset=False)
    place(A, 0, 8, 8)
    place(A, 1, 15, 0)  # far from everyone
    place(A, 2, 0, 0)  # in the corner
    place(A, A.M, 1, 1)  # the adventurer blocks the way out
    A.alive_u[0, 0] = False
    A.hp[0, 0] = 0.0
    A.refresh()
    s = A.observe()[0]
    c = INDEX
    assert s[1, c["leader_distance"]] == 1.0  # dead leader
    assert s[1, c["pack_size"]] == pytest.approx(2 / 10)
    assert s[1, c["allies_nearby"]] == 0.0 and s[1, c["allies_avg_hp"]] == 1.0 and s[1, c["ally_lowest_hp"]] == 1.0
    assert s[2, c["can_flee"]] == 0.0  # every step keeps it next to the adventurer
    assert s[2, c["blocked_south"]] == 1.0 and s[2, c["blocked_west"]] == 1.0  # off the map
    assert s[2, c["nearest_enemy_distance"]] == pytest.approx(1 / 14)
    assert s[0, c["hp_ratio"]] == 0.0 and s[0, c["has_target"]] == 0.0
