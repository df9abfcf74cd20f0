"""observe(): every monster's float32[64] state, exactly aiworld.mobs.state.LAYOUT.

Only what the C++ map server can see about a monster: its own status and timers, the cells around it,
the units within its view range (14 cells), its target, its pack. Distances are Chebyshev cells / 14 and
counts / 10, both clipped to 1; every value is clipped to [0, 1] and flags are exactly 0 or 1.
Choices where the layout leaves room (docs/arena.md repeats them):
- `last_action` (50): min(id, 10) / 10, so TRADITIONAL_AI (255) reads 1.0;
- `target_in_sight` (18): line of sight by rAthena's path_search_long, up to 20 cells;
- `leader_distance` (26): 1 when the pack has no leader or the leader is dead; 0 for the leader;
- `target_hp_trend` (48): 0.5 without a target;
- `can_flee` (60): the monster can move and a step increases the walking distance from the nearest enemy
  (any legal step when no enemy is alive);
- `protect_leader` (62): a living leader took damage within the last 2 s (never set for the leader itself);
- `allies_in_combat` (27): allies with a target or damaged within the last 5 s;
- `ally_healer_near` (29): an ally whose skills include a heal for others (the support archetype);
- a dead monster is encoded like a living one with HP 0 and no target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from aiworld.mobs.state import INDEX, MAX_COUNT, STATE_SIZE, VIEW_RANGE_CELLS
from trainers.arena.gather import take_pair, take_unit
from trainers.arena.units import MD_AGGRESSIVE, MD_ASSIST, MD_CANMOVE, MD_CASTSENSOR

if TYPE_CHECKING:
    from trainers.arena.core import VecArena

VIEW = VIEW_RANGE_CELLS
TICKS_PER_S = 10
_NEIGHBOURS = (("blocked_north", 0, 1), ("blocked_east", 1, 0), ("blocked_south", 0, -1), ("blocked_west", -1, 0))


def encode(A: VecArena, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
    """float32[len(rows), M, 64] (all arenas by default)."""
    from trainers.arena.core import FAR, TREND_TICKS

    M = A.M
    m = slice(0, M)
    c = INDEX
    hp = A.hp[rows]
    n = hp.shape[0]
    s = np.zeros((n, M, STATE_SIZE), np.float32)
    alive_u = A.alive_u[rows]
    alive = alive_u[:, m]
    ratio_u = hp / A.max_hp
    ratio = ratio_u[:, m]
    target = np.where(alive, A.target[rows][:, m], -1)
    has = target >= 0
    t = np.maximum(target, 0)
    dist = A.dist[rows]
    cell = A.cell[rows][:, m]
    x, y = A.x[rows][:, m], A.y[rows][:, m]
    mp = A.map

    # self 0-11
    s[..., c["hp_ratio"]] = ratio
    s[..., c["sp_ratio"]] = A.sp[rows][:, m] / A.max_sp[m]
    s[..., c["level"]] = A.level[m] / 200
    buff_atk = np.where(A.buff_atk_t[rows][:, m] > 0, A.buff_atk[rows][:, m], 0)
    def_factor = (1 + np.where(A.buff_def_t[rows][:, m] > 0, A.buff_def[rows][:, m], 0)) * (
        1 - np.where(A.debuff_def_t[rows][:, m] > 0, A.debuff_def[rows][:, m], 0))
    s[..., c["atk"]] = A.base_atk[m] * (1 + buff_atk) / 2000
    s[..., c["def"]] = A.base_def[m] * def_factor / 200
    s[..., c["matk"]] = A.base_matk[m] * (1 + buff_atk) / 2000
    s[..., c["mdef"]] = A.base_mdef[m] * def_factor / 200
    walk = A.walk[m] * np.where(A.slow[rows][:, m] > 0, 2.0, 1.0)
    s[..., c["move_speed"]] = 1 - walk / 1000
    s[..., c["attack_range"]] = A.range[m] / VIEW
    s[..., c["attack_delay"]] = A.adelay_ms[m] / 4000
    s[..., c["is_casting"]] = A.cast_left[rows][:, m] > 0
    s[..., c["is_disabled"]] = A.stun[rows][:, m] > 0

    # environment 12-21
    s[..., c["pos_x"]] = x / mp.width
    s[..., c["pos_y"]] = y / mp.height
    for name, dx, dy in _NEIGHBOURS:
        s[..., c[name]] = ~mp.walkable_at(x + dx, y + dy)
    s[..., c["target_in_sight"]] = has & A.target_los[rows][:, m]
    spawn = A.spawn_cell[rows][:, m]
    s[..., c["spawn_distance"]] = np.maximum(np.abs(x - mp.cell_x[spawn]), np.abs(y - mp.cell_y[spawn])) / VIEW
    h_left = A.h_left[rows]
    if (h_left > 0).any():
        inside = (h_left[:, None, :] > 0) & (A.h_side[rows][:, None, :] == 1) & (
            np.maximum(np.abs(x[..., None] - A.h_x[rows][:, None, :]), np.abs(y[..., None] - A.h_y[rows][:, None, :]))
            <= A.h_radius[rows][:, None, :])
        s[..., c["on_hazard"]] = inside.any(axis=2)
    s[..., c["open_space"]] = mp.open_space[cell]

    # social 22-29: the other living pack members within view
    d_mm = dist[:, m, m]
    allies = (d_mm <= VIEW) & alive[:, None, :] & ~np.eye(M, dtype=bool)[None]
    count = allies.sum(axis=2)
    s[..., c["allies_nearby"]] = count / MAX_COUNT
    ally_ratio = np.where(allies, ratio[:, None, :], 0).sum(axis=2)
    s[..., c["allies_avg_hp"]] = np.where(count > 0, ally_ratio / np.maximum(count, 1), 1.0)
    s[..., c["is_leader"]] = A.is_leader[None]
    s[..., c["pack_size"]] = alive.sum(axis=1, keepdims=True) / MAX_COUNT
    if A.leader >= 0:
        lead = A.leader
        lead_alive = alive[:, lead:lead + 1]
        s[..., c["leader_distance"]] = np.where(A.is_leader[None], 0.0,
                                                np.where(lead_alive, d_mm[:, :, lead] / VIEW, 1.0))
        lead_hit = lead_alive & (A.since_damaged[rows][:, lead:lead + 1] < 2 * TICKS_PER_S)
        s[..., c["protect_leader"]] = lead_hit & ~A.is_leader[None]
    else:
        s[..., c["leader_distance"]] = 1.0
    fighting = alive & ((A.target[rows][:, m] >= 0) | (A.since_damaged[rows][:, m] < 5 * TICKS_PER_S))
    s[..., c["allies_in_combat"]] = (allies & fighting[:, None, :]).sum(axis=2) / MAX_COUNT
    s[..., c["ally_lowest_hp"]] = np.where(count > 0, np.where(allies, ratio[:, None, :], np.inf).min(axis=2), 1.0)
    s[..., c["ally_healer_near"]] = (allies & A.heals_allies[None, None, m]).any(axis=2)

    # tactical 30-41
    enemy_dist = A.enemy_dist[rows][:, m, :]
    s[..., c["enemy_count"]] = (enemy_dist <= VIEW).sum(axis=2) / MAX_COUNT
    tdist = take_pair(dist, t)
    s[..., c["target_distance"]] = np.where(has, tdist / VIEW, 1.0)
    s[..., c["threat"]] = A.threat_sum[rows][:, m] / A.max_hp[m]
    s[..., c["target_hp"]] = np.where(has, take_unit(ratio_u, t), 0.0)
    s[..., c["target_casting"]] = has & (take_unit(A.cast_left[rows], t) > 0)
    tkind = A.kind[t]
    for k, name in enumerate(("target_melee", "target_ranged", "target_mage", "target_support")):
        s[..., c[name]] = has & (tkind == 6 + k)
    s[..., c["target_in_range"]] = has & (tdist <= A.range[m])
    near_d = A.nearest_dist[rows][:, m]
    s[..., c["nearest_enemy_distance"]] = np.where(near_d < FAR, near_d / VIEW, 1.0)
    s[..., c["has_target"]] = has

    # temporal 42-51
    s[..., c["since_attack"]] = A.since_attack[rows][:, m] / (5 * TICKS_PER_S)
    s[..., c["since_damaged"]] = A.since_damaged[rows][:, m] / (5 * TICKS_PER_S)
    cd = A.cooldown[rows][:, m] / np.maximum(A.sk_cooldown[m], 1)[None]
    s[..., c["skill1_cooldown"]:c["skill3_cooldown"] + 1] = cd
    old = A.hp_ring[(A.steps_total + 1) % TREND_TICKS][rows]  # the ratios of 2 s ago
    s[..., c["hp_trend"]] = 0.5 + (ratio - old[:, m]) / 2
    trend = take_unit(ratio_u, t) - take_unit(old, t)
    s[..., c["target_hp_trend"]] = np.where(has, 0.5 + trend / 2, 0.5)
    s[..., c["combat_time"]] = A.combat[rows][:, m] / (60 * TICKS_PER_S)
    s[..., c["last_action"]] = np.minimum(A.last_action[rows], 10) / 10
    s[..., c["since_target_change"]] = A.since_target[rows][:, m] / (10 * TICKS_PER_S)

    # goals 52-63
    mode = A.mode[m]
    s[..., c["mode_aggressive"]] = (mode & MD_AGGRESSIVE) != 0
    s[..., c["mode_assist"]] = (mode & MD_ASSIST) != 0
    s[..., c["mode_cast_sensor"]] = (mode & MD_CASTSENSOR) != 0
    s[..., c["mode_can_move"]] = (mode & MD_CANMOVE) != 0
    s[..., c["is_boss"]] = A.is_boss[m]
    ready = (A.cooldown[rows][:, m] == 0) & (A.sp[rows][:, m][..., None] >= A.sk_sp[m][None])
    s[..., c["skill1_ready"]:c["skill3_ready"] + 1] = ready
    ncell = take_unit(A.cell[rows], A.nearest[rows][:, m])
    flee = np.where(near_d < FAR, mp.away_dir(ncell, cell) >= 0, mp.allowed[cell].any(axis=-1))
    s[..., c["can_flee"]] = flee & ((mode & MD_CANMOVE) != 0)
    s[..., c["guard_post"]] = A.guard[m]
    np.clip(s, 0.0, 1.0, out=s)
    return s
