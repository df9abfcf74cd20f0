"""Scripted adventurer parties: four classes, each with several behaviour patterns.

A pattern is what the monsters face: who the adventurer focuses, how it keeps its distance, when it
retreats, how eagerly it spends area skills. Its id is exposed per monster as `VecArena.target_pattern`
(the pattern of the monster's current target), never in the state vector.

Each tick every living adventurer that is not stunned or casting picks one intent, first match wins:
1. standing in a monster's damaging area: step out of it;
2. retreating (cautious patterns: HP below `retreat`, until HP is back above `retreat + 0.25`): walk to the
   party's healer while no monster is within 3 cells, else away from the nearest monster;
3. healer: heal the lowest-HP ally in range when one is below `heal_below`; bless the party when a monster
   is within view and the blessing has run out;
4. keeping distance (ranged, mage, cleric): a monster closer than `keep_min` -> step away from it (if a step
   away exists, else fight where it stands);
5. a skill on the focus target when its condition holds (area skills need `aoe_min` monsters in the area);
6. a normal attack when the focus target is in range and visible and the attack delay is over;
7. otherwise walk toward the focus target (to `keep_max` cells for those keeping distance).
Adventurers know where every monster is (the party came for this pack); a provoked one attacks its provoker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FOCUS_NEAREST, FOCUS_WEAKEST, FOCUS_LEADER, FOCUS_CLUSTER, FOCUS_PEEL = range(5)
FOCUS_NAMES = ("nearest", "weakest", "leader", "cluster", "peel")


@dataclass(frozen=True)
class Pattern:
    name: str
    cls: str  # melee, ranged, mage, healer
    focus: int  # FOCUS_*
    retreat: float = 0.0  # HP ratio below which it walks away (0: reckless, never)
    keep_min: int = 0  # steps back when a monster is closer than this (cells)
    keep_max: int = 1  # approaches its target to this distance
    aoe_min: int = 2  # monsters needed in an area skill's area
    heal_below: float = 0.0  # healer: heals an ally below this HP ratio
    retarget: int = 30  # ticks between re-evaluations of the focus target


PATTERNS: tuple[Pattern, ...] = (
    Pattern("melee_nearest", "melee", FOCUS_NEAREST),
    Pattern("melee_weakest", "melee", FOCUS_WEAKEST, retarget=20),
    Pattern("melee_leader", "melee", FOCUS_LEADER),
    Pattern("melee_cautious", "melee", FOCUS_NEAREST, retreat=0.3),
    Pattern("melee_guardian", "melee", FOCUS_PEEL, retarget=10),
    Pattern("ranged_kiter", "ranged", FOCUS_NEAREST, keep_min=5, keep_max=8),
    Pattern("ranged_sniper", "ranged", FOCUS_WEAKEST, keep_min=4, keep_max=9, retarget=20),
    Pattern("ranged_leader", "ranged", FOCUS_LEADER, keep_min=5, keep_max=8),
    Pattern("ranged_reckless", "ranged", FOCUS_NEAREST, keep_min=0, keep_max=7, aoe_min=1),
    Pattern("mage_nuker", "mage", FOCUS_CLUSTER, keep_min=5, keep_max=8, aoe_min=2, retarget=20),
    Pattern("mage_bolter", "mage", FOCUS_WEAKEST, keep_min=5, keep_max=9, aoe_min=3),
    Pattern("mage_cautious", "mage", FOCUS_NEAREST, retreat=0.4, keep_min=6, keep_max=9, aoe_min=2),
    Pattern("healer_cleric", "healer", FOCUS_NEAREST, keep_min=5, keep_max=7, heal_below=0.75),
    Pattern("healer_battle", "healer", FOCUS_NEAREST, keep_max=1, heal_below=0.5),
)
PATTERN_ID = {p.name: i for i, p in enumerate(PATTERNS)}
PATTERN_CLASS = {p.name: p.cls for p in PATTERNS}


def decide(A, live: np.ndarray, intents, u: np.ndarray) -> None:
    """One intent per adventurer (see the module docstring); sets their targets in the arena."""
    from trainers.arena.core import FAR, I_ATTACK, I_MOVE, I_SKILL, VIEW
    from trainers.arena.gather import take_pair, take_unit
    from trainers.arena.units import CLASS_KIND

    M, P = A.M, A.P
    cols = slice(M, M + P)
    pp = A.pattern.astype(np.int64)
    prm = A.pattern_params
    cls, focus = prm["cls"][pp], prm["focus"][pp]
    keep_min, keep_max = prm["keep_min"][pp], prm["keep_max"][pp]
    busy = (A.cast_left[:, cols] > 0) | (A.stun[:, cols] > 0)
    ok = live & ~busy
    if not ok.any():
        return
    now = A.steps[:, None]
    mon_alive = A.alive_u[:, :M]
    d_pm = A.enemy_dist[:, cols, :M]  # [E, P, M], FAR for dead monsters
    near = A.nearest[:, cols]  # a monster index
    near_d = A.nearest_dist[:, cols]
    any_monster = near_d < FAR
    hp_ratio = A.hp / A.max_hp
    # -- focus target
    cur = A.target[:, cols]
    provoked = A.provoke_t[:, cols] > 0
    need = ok & ((cur < 0) | (now >= A.retarget_at))
    if need.any():
        mon_ratio = np.where(mon_alive, hp_ratio[:, :M], np.inf)
        weakest = (mon_ratio[:, None, :] * 1000 + d_pm).argmin(axis=2)
        if A.leader >= 0:
            lead_ok = mon_alive[:, A.leader:A.leader + 1]
            leader = np.where(lead_ok, A.leader, near)
        else:
            leader = near
        d_mm = np.where(mon_alive[:, None, :], A.dist[:, :M, :M], FAR)
        crowd = (d_mm <= 2).sum(axis=2)  # monsters within 2 cells of each monster (itself included)
        cluster = (-crowd[:, None, :] * 1000 + d_pm).argmin(axis=2)
        # peel: the nearest monster that targets a non-melee adventurer
        mt = A.target[:, :M]
        squishy = (mt >= M) & (A.kind[np.maximum(mt, 0)] != CLASS_KIND["melee"])
        peel_d = np.where(squishy[:, None, :], d_pm, FAR)
        peel = np.where(peel_d.min(axis=2) < FAR, peel_d.argmin(axis=2), near)
        choice = np.select([focus == 1, focus == 2, focus == 3, focus == 4], [weakest, leader, cluster, peel], near)
        new = np.where(any_monster, choice, -1)
        changed = need & (new != cur)
        A.since_target[:, cols] = np.where(changed, 0, A.since_target[:, cols])
        A.target[:, cols] = np.where(need, new, cur)
        A.retarget_at = np.where(need, now + prm["retarget"][pp], A.retarget_at)
    forced = ok & provoked & A.alive_u[np.arange(A.E)[:, None], np.maximum(A.provoker[:, cols], 0)]
    A.target[:, cols] = np.where(forced, A.provoker[:, cols], A.target[:, cols])
    tgt = A.target[:, cols]
    has = (tgt >= 0) & ok
    t = np.maximum(tgt, 0)
    tdist = np.where(has, take_pair(A.dist, t, M), FAR)
    tlos = has & take_pair(A.los, t, M)
    cell = A.cell[:, cols]
    tcell = take_unit(A.cell, t)
    ncell = take_unit(A.cell, near)
    ready = A.skill_ready()[:, cols] & (A.attack_cd[:, cols] == 0)[..., None]  # [E, P, 3]
    sp_ratio = A.sp[:, cols] / A.max_sp[cols]
    act = np.zeros((A.E, P), np.int8)
    mdir = np.full((A.E, P), -1, np.int8)
    slot = np.full((A.E, P), -1, np.int8)
    free = ok.copy()

    def choose(mask: np.ndarray, kind: int, d=None, s: int = -1) -> None:
        nonlocal free
        mask = mask & free
        if d is not None:
            mask &= d >= 0
            mdir[mask] = d[mask]
        act[mask] = kind
        if s >= 0:
            slot[mask] = s
        free &= ~mask

    away_near = A.map.away_dir(ncell, cell)
    # 1. step out of a monster's lingering area
    if (A.h_left > 0).any():
        hx, hy = A.x[:, cols, None], A.y[:, cols, None]
        inside = (A.h_left[:, None, :] > 0) & (A.h_side[:, None, :] == 0) & (
            np.maximum(np.abs(hx - A.h_x[:, None, :]), np.abs(hy - A.h_y[:, None, :])) <= A.h_radius[:, None, :])
        if inside.any():
            h = inside.argmax(axis=2)
            hcell = take_unit(A.h_x, h) * A.map.height + take_unit(A.h_y, h)
            out = A.map.away_dir(hcell, cell)
            out = np.where(out >= 0, out, away_near)
            choose(inside.any(axis=2), I_MOVE, out)
    # 2. cautious patterns walk away while hurt
    retreat = prm["retreat"][pp]
    mine = hp_ratio[:, cols]
    A.retreating = (retreat > 0) & np.where(mine < retreat, True, np.where(mine > retreat + 0.25, False, A.retreating))
    # toward the healer while no monster is close, else away from the nearest monster
    healer_col = np.flatnonzero(A.kind[cols] == CLASS_KIND["healer"])
    if len(healer_col) and A.retreating.any():
        h = M + int(healer_col[0])
        h_alive = A.alive_u[:, h:h + 1] & (np.arange(P)[None] != h - M)
        to_healer = A.map.toward_dir(np.broadcast_to(A.cell[:, h:h + 1], cell.shape), cell)
        choose(A.retreating & h_alive & (near_d > 3) & (A.dist[:, cols, h] > 2), I_MOVE, to_healer)
    choose(A.retreating & any_monster & (near_d <= VIEW), I_MOVE, away_near)
    # 3. healers
    healer = cls == 3
    if (healer & free).any():
        party_ratio = np.where(A.alive_u[:, cols], hp_ratio[:, cols], np.inf)  # [E, P]
        d_pp = A.dist[:, cols, cols]
        in_heal = d_pp <= A.sk_range[M:, 0][:, None]
        low = np.where(in_heal, party_ratio[:, None, :], np.inf).min(axis=2)
        choose(healer & ready[..., 0] & (low < prm["heal_below"][pp]), I_SKILL, s=0)
        unblessed = (np.where(d_pp <= A.sk_radius[M:, 1][:, None], A.buff_atk_t[:, None, cols] == 0, False)
                     & A.alive_u[:, None, cols]).any(axis=2)
        choose(healer & ready[..., 1] & unblessed & (near_d <= VIEW), I_SKILL, s=1)
    # 4. keeping distance
    choose((keep_min > 0) & (near_d < keep_min), I_MOVE, away_near)
    # 5. skills on the focus target
    sk_range = A.sk_range[cols]  # [P, 3]
    in_sk = tlos & (tdist <= sk_range[None, :, 0])
    mp = A.x[:, :M], A.y[:, :M]
    tx, ty = take_unit(A.x, t), take_unit(A.y, t)
    around_t = (np.maximum(np.abs(mp[0][:, None, :] - tx[..., None]), np.abs(mp[1][:, None, :] - ty[..., None]))
                <= 2) & mon_alive[:, None, :]
    around_t1 = (np.maximum(np.abs(mp[0][:, None, :] - tx[..., None]), np.abs(mp[1][:, None, :] - ty[..., None]))
                 <= 1) & mon_alive[:, None, :]
    around_me = ((d_pm <= 2) & mon_alive[:, None, :]).sum(axis=2)
    aoe_min = prm["aoe_min"][pp]
    spare = sp_ratio > 0.2
    melee, ranged, mage = cls == 0, cls == 1, cls == 2
    # melee: magnum break into a crowd, provoke what hunts the back line, bash
    choose(melee & ready[..., 1] & (around_me >= aoe_min), I_SKILL, s=1)
    t_target = take_unit(A.target, t)
    hunts_back = (t_target >= M) & (t_target != np.arange(M, M + P)[None])
    choose(melee & (focus == 4) & ready[..., 2] & in_sk & hunts_back, I_SKILL, s=2)
    choose(melee & ready[..., 0] & tlos & (tdist <= sk_range[None, :, 0]) & spare, I_SKILL, s=0)
    # ranged: arrow shower into a crowd, slowing shot on what closes in, double strafe
    choose(ranged & ready[..., 1] & in_sk & (around_t1.sum(axis=2) >= aoe_min), I_SKILL, s=1)
    t_slow = take_unit(A.slow, t) > 0
    choose(ranged & ready[..., 2] & in_sk & (tdist <= 4) & ~t_slow, I_SKILL, s=2)
    choose(ranged & ready[..., 0] & in_sk & spare, I_SKILL, s=0)
    # mage: storm gust on a crowd, frost diver on what is close, bolt
    choose(mage & ready[..., 1] & in_sk & (around_t.sum(axis=2) >= aoe_min), I_SKILL, s=1)
    choose(mage & ready[..., 2] & in_sk & (tdist <= 3), I_SKILL, s=2)
    choose(mage & ready[..., 0] & in_sk & spare, I_SKILL, s=0)
    # healer: holy light when SP allows
    choose(healer & ready[..., 2] & in_sk & (sp_ratio > 0.5), I_SKILL, s=2)
    # 6. normal attack
    rng = A.range[cols][None]
    in_range = tlos & (tdist <= rng)
    choose(in_range & (A.attack_cd[:, cols] == 0), I_ATTACK)
    # 7. walk toward the target until in range and sight; a cleric instead stays near the most hurt ally
    cleric = healer & (keep_min > 0)
    if (cleric & free).any():
        others = A.alive_u[:, None, cols] & ~np.eye(P, dtype=bool)[None]
        ally = np.where(others, hp_ratio[:, None, cols], np.inf).argmin(axis=2)
        ally_d = take_pair(A.dist, ally + M, M)
        acell = take_unit(A.cell, ally + M)
        choose(cleric & others.any(axis=2) & (ally_d > 6), I_MOVE, A.map.toward_dir(acell, cell))
        free &= ~cleric
    choose(has & (~in_range | (tdist > keep_max)), I_MOVE, A.map.toward_dir(tcell, cell))
    intents.act[:, cols] = np.where(ok, act, intents.act[:, cols])
    intents.move[:, cols] = np.where(ok, mdir, intents.move[:, cols])
    intents.slot[:, cols] = np.where(ok, slot, intents.slot[:, cols])
