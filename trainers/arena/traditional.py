"""The traditional AI: rAthena's monster state machine (src/map/mob.cpp mob_ai_sub_hard), vectorised.

What action 255 does in the arena. One think per monster per tick (rAthena's MIN_MOBTHINKTIME is the
100 ms AI tick), in rAthena's order:

0. casting or stunned (opt1): no think; a stunned monster forgets its target and who hit it.
   mobskill events first: a monster hit during the last tick checks its closedattacked /
   longrangeattacked / skillused skill entries (mobskill_event; taking the attacker as target if it had none).
1. target validity: a dead target, or one farther than min_chase while chasing, unlocks it
   (mob_unlocktarget: back to idle, angry mood restored, next random walk in 4-5 s).
2. target change when attacked by someone else (attacked_id): allowed with no target, or in the
   idle/walk/follow/angry states, in attack state (BERSERK) only with CHANGETARGET_MELEE and the attacker
   within range + 1, in chase (RUSH) only with CHANGETARGET_CHASE (mob_can_changetarget); the attacker must
   be within MAX_MINCHASE and in attack range or reachable. Otherwise the current target is kept while it
   stays within chase range (min_chase = distance + chase range - attack range, within [chase, 30]).
3. followers (rAthena slaves; the pack leader is their master): without a target, walk back to within
   MOB_SLAVEDISTANCE (2) cells of the leader; else once a second take the leader's target.
   (rAthena also kills slaves with their master; pack members outlive their leader here.)
4. target search: AGGRESSIVE mode (and aggressive followers even with a target, picking a closer enemy):
   the nearest enemy within view range (range2) in line of sight and within range2 walking steps
   (mob_ai_sub_hard_activesearch with ACTIVEPATHSEARCH); CASTSENSOR: an idle one targets an enemy that
   casts within view; ASSIST: when a monster in ASSIST mode attacks, idle monsters of the same archetype
   within its view range take its target (mob_linksearch).
5. no target: idle skills once a second (MOB_SKILL_INTERVAL), random walk (mob_randomwalk: a random
   reachable cell within 7, every 4-5 s plus the walk time) unless a follower, else stand.
6. target in attack range and sight: attack every attack delay; before each attack the attack-state
   skills are checked (unit_attack_timer_sub -> mobskill_use); an angry monster also checks its skills once
   a second. Out of range: chase (MSS_RUSH, or MSS_FOLLOW while angry) with chase skills checked once a second
   before stepping; unreachable within min_chase: unlock.

mobskill_use: entries in mob_skill_db order; the first whose state matches, whose skill is off cooldown and
affordable, whose rate roll (rate / 10000) passes, whose condition holds (always, myhpltmaxrate,
friendhpltmaxrate within 8 cells, slavelt; closedattacked, longrangeattacked and skillused only as events)
and whose target is in skill range and sight is used.
Reported actions: ATTACK, MOVE_CLOSER (chase, or a follower walking back), MOVE_RANDOM (random walk),
SKILL_k, IDLE, CHANGE_TARGET (a think that only switched the target).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from aiworld.mobs.state import Action
from trainers.arena.gather import take_pair, take_unit
from trainers.arena.geometry import UNREACHABLE
from trainers.arena.units import (
    C_ALWAYS,
    C_CLOSEDATTACKED,
    C_FRIENDHPLT,
    C_LONGRANGEATTACKED,
    C_MYHPLT,
    C_SKILLUSED,
    C_SLAVELT,
    FRIEND_RANGE,
    MAX_MINCHASE,
    MD_AGGRESSIVE,
    MD_ANGRY,
    MD_ASSIST,
    MD_CASTSENSOR,
    MD_CHANGETARGET_CHASE,
    MD_CHANGETARGET_MELEE,
    MIN_MOBLINKTIME,
    MIN_RANDOMWALKTIME,
    MOB_SKILL_INTERVAL,
    MOB_SLAVEDISTANCE,
    MSS_ANGRY,
    MSS_BERSERK,
    MSS_FOLLOW,
    MSS_IDLE,
    MSS_RUSH,
    MSS_WALK,
    R_ENTRY,
    R_WALK_T,
    R_WALK_X,
    R_WALK_Y,
    RANDOMWALK_RANGE,
    S_ANY,
    S_ANYTARGET,
    S_ATTACK,
    S_DEAD,
    T_ALLY,
    T_ENEMY,
    T_GROUND,
    TABLES,
)

if TYPE_CHECKING:
    from trainers.arena.core import Intents, VecArena

__all__ = ["decide", "apply", "Decision", "MSS_IDLE", "MD_ANGRY", "MIN_RANDOMWALKTIME"]
MAX_WALKPATH = 32  # rAthena's max walk path (cells): farther targets are not reachable
HIT_MELEE, HIT_LONG, HIT_SKILL, HIT_MAGIC = 1, 2, 4, 8


@dataclass
class Decision:
    action: np.ndarray  # int16[E, M]: the protocol action id this think amounts to
    act: np.ndarray  # int8[E, M]: intents (core.I_*)
    move: np.ndarray
    slot: np.ndarray
    target: np.ndarray  # int32[E, M]: the new targets
    mstate: np.ndarray
    angry: np.ndarray
    min_chase: np.ndarray
    next_walk: np.ndarray
    walk_goal: np.ndarray
    last_skillcheck: np.ndarray
    last_link: np.ndarray
    reset_attack: np.ndarray  # bool[E, M]: an angry skill delays the next attack by the attack delay
    reflex: np.ndarray  # bool[E, M]: an event skill, which does not wait for the attack delay


class _Think:
    """The per-tick context of one vectorised think (read-only views of the arena)."""

    def __init__(self, A: VecArena, u: np.ndarray):
        M = A.M
        self.A, self.u, self.M = A, u, M
        self.kind = A.kind[:M]
        self.mode = A.mode[:M]
        self.now = A.steps[:, None].astype(np.int32)
        self.cell = A.cell[:, :M]
        self.alive = A.alive_u[:, :M]
        self.hp_pct = A.hp[:, :M] / A.max_hp[:M] * 100
        self.range = A.range[:M]
        self.chase = A.chase[:M]
        self.view = A.view[:M]
        # friendhpltmaxrate: the lowest-HP other pack member within 8 cells (rAthena searches the area)
        d_mm = A.dist[:, :M, :M]
        others = (d_mm <= FRIEND_RANGE) & self.alive[:, None, :] & ~np.eye(M, dtype=bool)[None]
        self.friend_pct = np.where(others, self.hp_pct[:, None, :], np.inf).min(axis=2)
        if A.leader >= 0:
            followers = (self.alive & A.follower[None]).sum(axis=1)
            self.slaves = np.where(A.is_leader[None], followers[:, None], 0)
        else:
            self.slaves = np.zeros_like(self.cell)
        self._entries = None
        self._target_cache: tuple | None = None

    def dist_to(self, idx: np.ndarray) -> np.ndarray:
        """Distance from each monster to unit idx[e, m]."""
        return take_pair(self.A.dist, idx)

    def sight_to(self, idx: np.ndarray) -> np.ndarray:
        return take_pair(self.A.los, idx)

    def entries(self) -> list[dict]:
        """The per-entry parts of mobskill_use that do not depend on the state or the target (once a think)."""
        if self._entries is None:
            T, A, M, kind = TABLES, self.A, self.M, self.kind
            ready_all = A.skill_ready()
            self.rhythm = A.attack_cd[:, :M] == 0
            rows = np.arange(M)
            self._entries = []
            for k in range(T.ms_slot.shape[1]):
                s = T.ms_slot[kind, k]
                exists = s >= 0
                if not exists.any():
                    continue
                sc = np.maximum(s, 0)
                cond, value = T.ms_cond[kind, k], T.ms_value[kind, k]
                base = exists & ready_all[:, rows, sc] & (self.u[R_ENTRY + k][:, :M] * 10000 <= T.ms_rate[kind, k])
                always = (cond == C_ALWAYS) | ((cond == C_MYHPLT) & (self.hp_pct <= value)) | \
                    ((cond == C_FRIENDHPLT) & (self.friend_pct <= value)) | \
                    ((cond == C_SLAVELT) & (self.slaves < value))
                kind_t = A.sk_target[rows, sc]
                friend_ok = (kind_t != T_ALLY) | (cond != C_FRIENDHPLT) | (self.friend_pct <= value)
                self._entries.append({
                    "slot": s.astype(np.int8), "state": T.ms_state[kind, k], "cond": cond, "base": base & friend_ok,
                    "always": always, "needs_enemy": (kind_t == T_ENEMY) | (kind_t == T_GROUND),
                    "range": A.sk_range[rows, sc]})
        return self._entries

    def skill_use(self, mask: np.ndarray, state: np.ndarray, target: np.ndarray,
                  event: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """mobskill_use over the mob-skill entries: (used, slot). `event` (bool[E, M, cond]) for events."""
        used = np.zeros_like(mask)
        slot = np.full(mask.shape, -1, np.int8)
        if not mask.any():
            return used, slot
        has = target >= 0
        if self._target_cache is not None and self._target_cache[0] is target:
            tdist, tlos = self._target_cache[1:]
        else:
            t = np.maximum(target, 0)
            tdist = self.dist_to(t)
            tlos = self.sight_to(t) & has & take_unit(self.A.alive_u, t)
            self._target_cache = (target, tdist, tlos)
        attack_state = (state == MSS_BERSERK) | (state == MSS_ANGRY)
        for entry in self.entries():
            st = entry["state"]
            match = ((st == S_ANY) & (state != S_DEAD)) | ((st == S_ANYTARGET) & has) | \
                ((st == S_ATTACK) & attack_state) | (st == state)
            if event is None:
                ok = entry["always"]
            else:
                cond = entry["cond"]
                ok = ((cond == C_CLOSEDATTACKED) & event[..., 0]) | ((cond == C_LONGRANGEATTACKED) & event[..., 1]) | \
                    ((cond == C_SKILLUSED) & event[..., 2])
            feasible = ~entry["needs_enemy"] | (tlos & (tdist <= entry["range"]))
            if event is None:  # a skill waits for the attack delay (core), except event skills (mobskill_event)
                feasible = feasible & self.rhythm
            cand = mask & ~used & entry["base"] & match & ok & feasible
            slot = np.where(cand, entry["slot"], slot)
            used |= cand
        return used, slot


def decide(A: VecArena, u: np.ndarray) -> Decision:
    """One think for every monster (pure: nothing in the arena changes)."""
    M = A.M
    th = _Think(A, u)
    now, cell = th.now, th.cell
    dist = A.dist[:, :M, :]  # views for the rare [E, M, U] masks
    mode = th.mode
    alive = th.alive
    casting = A.cast_left[:, :M] > 0
    stunned = A.stun[:, :M] > 0
    think = alive & ~casting & ~stunned
    target = np.where(alive & stunned, -1, A.target[:, :M])
    state = A.mstate.copy()
    angry = A.angry.copy()
    min_chase = A.min_chase.copy()
    next_walk = A.next_walk.copy()
    walk_goal = A.walk_goal.copy()
    lsc = A.last_skillcheck.copy()
    llink = A.last_link.copy()
    action = np.zeros(alive.shape, np.int16)
    act = np.zeros(alive.shape, np.int8)
    move = np.full(alive.shape, -1, np.int8)
    slot = np.full(alive.shape, -1, np.int8)
    reset_attack = np.zeros(alive.shape, bool)
    reflex = np.zeros(alive.shape, bool)
    handled = ~think  # decided this tick
    can_move_mode = A.can_move_mode[:M][None]
    start_target = A.target[:, :M]

    def unlock(mask: np.ndarray) -> None:
        nonlocal target, state, next_walk, walk_goal
        was_target = (state != MSS_IDLE) & (state != MSS_WALK)
        target = np.where(mask, -1, target)
        restore = mask & was_target
        angry[restore] = ((mode & MD_ANGRY) != 0)[None].repeat(len(angry), 0)[restore]
        jitter = (u[R_WALK_T][:, :M] * 10).astype(np.int32)
        next_walk = np.where(restore, now + jitter + MIN_RANDOMWALKTIME, next_walk)
        state = np.where(restore, MSS_IDLE, state).astype(np.int8)

    def chase_range(d: np.ndarray) -> np.ndarray:
        return np.clip(d + th.chase - th.range, th.chase, MAX_MINCHASE)

    # mobskill events of last tick's hits (closedattacked, longrangeattacked, skillused)
    flags = A.hit_flags[:, :M]
    hit = think & (flags != 0)
    if hit.any():
        event = np.stack([(flags & HIT_MELEE) != 0, ((flags & HIT_LONG) != 0) & ((flags & HIT_MAGIC) == 0),
                          (flags & HIT_SKILL) != 0], axis=-1)
        attacker = A.last_attacker[:, :M]
        ev_target = np.where(target < 0, attacker, target)
        used, s = th.skill_use(hit, state, ev_target, event)
        reflex = used
        if used.any():
            target = np.where(used, ev_target, target)
            act[used], slot[used], action[used] = 3, s[used], Action.SKILL_1 + s[used]
            handled |= used

    # 1. target validity
    has = target >= 0
    t = np.maximum(target, 0)
    tdist = th.dist_to(t)
    t_alive = has & take_unit(A.alive_u, t)
    chasing = (state == MSS_RUSH) | (state == MSS_FOLLOW)
    invalid = ~handled & has & (~t_alive | (chasing & (tdist > min_chase)))
    dropped = ~handled & ~has & (state != MSS_IDLE) & (state != MSS_WALK)
    unlock(invalid | dropped)

    # 2. attacked by someone else
    attacker = A.last_attacker[:, :M]
    attacked = ~handled & (flags != 0) & (attacker >= 0) & (attacker != target)
    if attacked.any():
        a = np.maximum(attacker, 0)
        adist = th.dist_to(a)
        a_alive = take_unit(A.alive_u, a)
        has = target >= 0
        can_change = ~has | (state == MSS_FOLLOW) | (state == MSS_ANGRY) | (state == MSS_IDLE) | (state == MSS_WALK)
        can_change |= (state == MSS_BERSERK) & ((mode & MD_CHANGETARGET_MELEE) != 0) & (adist <= th.range + 1)
        can_change |= (state == MSS_RUSH) & ((mode & MD_CHANGETARGET_CHASE) != 0)
        acell = take_unit(A.cell, a)
        in_range = (adist <= th.range) & th.sight_to(a)
        reach = can_move_mode & (A.map.steps_between(acell, cell) <= np.minimum(adist + th.chase, MAX_WALKPATH))
        switch = attacked & a_alive & can_change & (adist < MAX_MINCHASE) & (in_range | reach)
        target = np.where(switch, attacker, target)
        min_chase = np.where(switch, chase_range(adist), min_chase)

    # 3. followers: back to the leader, or the leader's target
    follower_busy = np.zeros_like(think)
    if A.leader >= 0:
        lead = A.leader
        leader_alive = A.alive_u[:, lead:lead + 1]
        ldist = dist[:, :, lead]
        is_f = ~handled & A.follower[None] & leader_alive
        back = is_f & (target < 0) & (ldist > MOB_SLAVEDISTANCE) & can_move_mode
        if back.any():
            lcell = A.cell[:, lead:lead + 1]
            d = A.map.toward_dir(np.broadcast_to(lcell, cell.shape), cell)
            move = np.where(back, d, move)
            act[back & (d >= 0)] = 2
            action[back] = Action.MOVE_CLOSER
            handled |= back
            follower_busy = back
        link = is_f & ~back & (target < 0) & (now - llink >= MIN_MOBLINKTIME)
        if link.any():
            llink = np.where(link, now, llink)
            lt = A.target[:, lead:lead + 1]
            ok = (lt >= 0) & take_unit(A.alive_u, np.maximum(lt, 0))
            lt = np.broadcast_to(lt, target.shape)
            take = link & ok
            target = np.where(take, lt, target)
            min_chase = np.where(take, chase_range(th.dist_to(np.maximum(lt, 0))), min_chase)
    else:
        is_f = np.zeros_like(think)

    # 4. target search: active (aggressive), cast sensor, assist links
    near = A.nearest[:, :M]
    near_d = A.nearest_dist[:, :M]
    near_cell = take_unit(A.cell, near)
    walking = (state == MSS_WALK) | (state == MSS_RUSH) | (state == MSS_FOLLOW)
    path_limit = np.where(walking, th.chase, th.view)
    visible = (near_d <= th.view) & th.sight_to(near) & \
        (A.map.steps_between(near_cell, cell) <= path_limit)
    aggressive = (mode & MD_AGGRESSIVE) != 0
    cur_d = np.where(target >= 0, th.dist_to(np.maximum(target, 0)), np.iinfo(np.int32).max)
    search = ~handled & aggressive & ((target < 0) | (is_f & (near_d < cur_d))) & visible
    target = np.where(search, near, target)
    min_chase = np.where(search, chase_range(near_d), min_chase)
    sensor = ~handled & (target < 0) & ((mode & MD_CASTSENSOR) != 0) & ((state == MSS_IDLE) | (state == MSS_WALK))
    if sensor.any():
        casting_enemy = (A.cast_left > 0) & (A.side[None] == 1) & A.alive_u  # [E, U]
        d = np.where(casting_enemy[:, None, :] & (dist <= th.view[None, :, None]), dist, UNREACHABLE)
        c = d.argmin(axis=2)
        found = sensor & (take_pair(d, c) < UNREACHABLE)
        target = np.where(found, c, target)
        min_chase = np.where(found, chase_range(th.dist_to(c)), min_chase)
    assist_src = ((mode & MD_ASSIST) != 0)[None] & alive & (A.since_attack[:, :M] == 0) & (start_target >= 0)
    if assist_src.any():
        for j in np.flatnonzero(assist_src.any(axis=0)):
            same = (th.kind == th.kind[j]) & (np.arange(M) != j)
            link = ~handled & (target < 0) & same[None] & assist_src[:, j:j + 1] & \
                (dist[:, :, j] <= th.view[j])
            target = np.where(link, start_target[:, j:j + 1], target)
            min_chase = np.where(link, th.chase[None], min_chase)

    # 5. no target: idle skills, random walk
    idle = ~handled & (target < 0)
    if idle.any():
        arrived = idle & (state == MSS_WALK) & ((walk_goal < 0) | (walk_goal == cell))
        state = np.where(arrived, MSS_IDLE, state).astype(np.int8)
        walk_goal = np.where(arrived, -1, walk_goal)
        check = idle & (now - lsc >= MOB_SKILL_INTERVAL)
        lsc = np.where(check, now, lsc)
        used, s = th.skill_use(check, state, target)
        act[used], slot[used], action[used] = 3, s[used], Action.SKILL_1 + s[used]
        still = idle & ~used
        walk_on = still & (state == MSS_WALK)
        d = A.map.toward_dir(np.maximum(walk_goal, 0), cell)
        move = np.where(walk_on, d, move)
        act[walk_on & (d >= 0)] = 2
        action[walk_on] = Action.MOVE_RANDOM
        start = still & (state == MSS_IDLE) & ~is_f & (now >= next_walk) & can_move_mode
        if start.any():
            r = RANDOMWALK_RANGE
            gx = A.x[:, :M] + (u[R_WALK_X][:, :M] * (2 * r + 1)).astype(np.int32) - r
            gy = A.y[:, :M] + (u[R_WALK_Y][:, :M] * (2 * r + 1)).astype(np.int32) - r
            inside = (gx >= 0) & (gx < A.map.width) & (gy >= 0) & (gy < A.map.height)
            goal = np.clip(gx, 0, A.map.width - 1) * A.map.height + np.clip(gy, 0, A.map.height - 1)
            path = A.map.steps_between(goal, cell)
            ok = start & inside & A.map.walk_flat[goal] & (goal != cell) & (path <= MAX_WALKPATH)
            jitter = (u[R_WALK_T][:, :M] * 10).astype(np.int32)
            walk_ticks = (path * A.walk[:M] / 100).astype(np.int32)
            next_walk = np.where(ok, now + jitter + MIN_RANDOMWALKTIME + walk_ticks,
                                 np.where(start, now + jitter, next_walk))
            state = np.where(ok, MSS_WALK, state).astype(np.int8)
            walk_goal = np.where(ok, goal, walk_goal)
            d = A.map.toward_dir(goal, cell)
            move = np.where(ok, d, move)
            act[ok & (d >= 0)] = 2
            action[ok] = Action.MOVE_RANDOM
        handled |= idle

    # 6. a target: attack in range, else chase
    engaged = ~handled & (target >= 0)
    if engaged.any():
        t = np.maximum(target, 0)
        tdist = th.dist_to(t)
        tcell = take_unit(A.cell, t)
        in_range = (tdist <= th.range) & th.sight_to(t)
        moving = A.moved[:, :M]
        angry_check = engaged & (state == MSS_ANGRY) & ~moving & (now - lsc >= MOB_SKILL_INTERVAL)
        lsc = np.where(angry_check, now, lsc)
        used, s = th.skill_use(angry_check, state, target)
        act[used], slot[used], action[used] = 3, s[used], Action.SKILL_1 + s[used]
        reset_attack |= used
        done = used
        attack = engaged & ~done & in_range
        state = np.where(attack, np.where(angry, MSS_ANGRY, MSS_BERSERK), state).astype(np.int8)
        swing = attack & (A.attack_cd[:, :M] == 0)
        lsc = np.where(swing, now, lsc)
        used, s = th.skill_use(swing, state, target)
        act[used], slot[used], action[used] = 3, s[used], Action.SKILL_1 + s[used]
        plain = attack & ~used
        act[plain] = 1
        action[plain] = Action.ATTACK
        done = done | attack
        out = engaged & ~done
        stuck = out & ~can_move_mode
        reach = (tdist <= min_chase) & (A.map.steps_between(tcell, cell) <= MAX_WALKPATH)
        lose = out & (stuck | ~reach)
        if lose.any():
            unlock(lose)
            check = lose & (now - lsc >= MOB_SKILL_INTERVAL)
            lsc = np.where(check, now, lsc)
            used, s = th.skill_use(check, state, target)
            act[used], slot[used], action[used] = 3, s[used], Action.SKILL_1 + s[used]
        go = out & ~lose
        state = np.where(go, np.where(angry, MSS_FOLLOW, MSS_RUSH), state).astype(np.int8)
        check = go & (now - lsc >= MOB_SKILL_INTERVAL)
        lsc = np.where(check, now, lsc)
        used, s = th.skill_use(check, state, target)
        act[used], slot[used], action[used] = 3, s[used], Action.SKILL_1 + s[used]
        step = go & ~used
        d = A.map.toward_dir(tcell, cell)
        move = np.where(step, d, move)
        act[step & (d >= 0)] = 2
        action[step] = Action.MOVE_CLOSER
    # a think that did nothing but switch targets
    switched = think & ~follower_busy & (action == Action.IDLE) & (act == 0) & (target != start_target) & \
        (target >= 0)
    action[switched] = Action.CHANGE_TARGET
    return Decision(action=action, act=act, move=move, slot=slot, target=target.astype(np.int32), mstate=state,
                    angry=angry, min_chase=min_chase.astype(np.int32), next_walk=next_walk.astype(np.int32),
                    walk_goal=walk_goal.astype(np.int32), last_skillcheck=lsc.astype(np.int32),
                    last_link=llink.astype(np.int32), reset_attack=reset_attack, reflex=reflex)


def apply(A: VecArena, dec: Decision, mask: np.ndarray, intents: Intents) -> None:
    """Commit the think of the monsters in `mask` (those playing 255) to the arena."""
    M = A.M
    if not mask.any():
        return
    A._set_target(dec.target, mask, slice(0, M))
    for name in ("mstate", "angry", "min_chase", "next_walk", "walk_goal", "last_skillcheck", "last_link"):
        arr = getattr(A, name)
        arr[mask] = getattr(dec, name)[mask]
    intents.act[:, :M][mask] = dec.act[mask]
    intents.move[:, :M][mask] = dec.move[mask]
    intents.slot[:, :M][mask] = dec.slot[mask]
    intents.reflex[:, :M][mask] = dec.reflex[mask]
    reset = mask & dec.reset_attack
    if reset.any():
        A.attack_cd[:, :M][reset] = np.broadcast_to(A.adelay[:M], reset.shape)[reset]
