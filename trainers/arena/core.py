"""VecArena: E arenas of one scenario stepped together with numpy, one tick (100 ms) per step.

Units: the pack's M monsters are units 0..M-1 of each arena, the party's P adventurers units M..M+P-1;
every per-unit array is [E, U] (U = M + P) and unit indices (targets, attackers) are these global
indices. A tick, in order (docs/arena.md has the rules):
1. decisions: monsters by their action (0..9) or by the traditional AI (255), adventurers by their
   pattern; each yields one intent per unit: nothing, attack, a step in one of 8 directions, or a skill;
2. casts in progress count down and the finished ones take effect, new skills start (instant ones take
   effect at once), attacks land; all from the positions at the start of the tick;
3. units step (walk delay per cell, diagonal steps cost 1.4x), lingering areas pulse;
4. damage and heals apply, the dead fall, damage interrupts cancelable casts, timers run down;
5. rewards, outcome, and (auto_reset) new encounters where one ended.
Randomness comes from one generator, drawn as a fixed-shape block per tick (common random numbers:
two arenas from the same seed see the same rolls whatever their actions), so the same seed and the same
actions give bit-identical states.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from aiworld.mobs.state import ARCHETYPES, STATE_SIZE, Action
from trainers.arena import adventurers, encoder, rewards, traditional
from trainers.arena.adventurers import PATTERN_ID, PATTERNS
from trainers.arena.gather import take_pair, take_unit
from trainers.arena.geometry import DIAGONAL, DX, DY, grid_map
from trainers.arena.scenario import Scenario, load_scenario
from trainers.arena.units import (
    CLASS_KIND,
    HAZARD_PULSE,
    MD_AGGRESSIVE,
    MD_ASSIST,
    MD_CANMOVE,
    MD_STATUSIMMUNE,
    MOB_SLAVEDISTANCE,
    NR,
    R_DMG,
    R_HIT,
    R_MOVE,
    R_SKILL_DMG,
    R_SKILL_HIT,
    R_STATUS,
    T_ALLY,
    T_AROUND,
    T_ENEMY,
    T_GROUND,
    T_PARTY,
    TABLES,
    TICK_MS,
)

HAZARD_SLOTS = 4  # lingering areas per arena
GUARD_RADIUS = 5  # a guard never walks farther than this from its spawn cell
FAR = 10_000  # "never" for the since_* counters, "no unit" for distances
THREAT_TICKS = 50  # state index 32: damage taken over the last 5 s
TREND_TICKS = 21  # state indices 47/48: HP change over the last 2 s (a ring of 2 s + 1 tick)
_RINGS = ("damage_ring", "hp_ring")  # [ticks, E, U]: arenas on axis 1
VIEW = 14  # the state's view range (aiworld.mobs.state.VIEW_RANGE_CELLS)
# intents
I_NONE, I_ATTACK, I_MOVE, I_SKILL = 0, 1, 2, 3
# hit flags (what hit a unit during the last tick; rAthena's mobskill events)
HIT_MELEE, HIT_LONG, HIT_SKILL, HIT_MAGIC = 1, 2, 4, 8


@dataclass
class StepResult:
    reward: np.ndarray  # float32[E, M]
    done: np.ndarray  # bool[E]: the encounter ended this tick
    outcome: dict[str, np.ndarray]  # arrays [E], valid where done
    truncated: np.ndarray  # bool[E]: ended by max_steps (a timeout)
    actions: np.ndarray  # int16[E, M]: the action each monster played (the traditional AI's choice for 255)
    final_states: np.ndarray | None = None  # float32[E, M, 64]: last states of the arenas that ended and reset


@dataclass
class Intents:
    act: np.ndarray  # int8[E, U]: I_*
    move: np.ndarray  # int8[E, U]: direction 0..7 or -1
    slot: np.ndarray  # int8[E, U]: skill slot 0..2 or -1
    reflex: np.ndarray  # bool[E, U]: a mobskill event, which need not wait for the attack delay

    @classmethod
    def empty(cls, E: int, U: int) -> Intents:
        return cls(np.zeros((E, U), np.int8), np.full((E, U), -1, np.int8), np.full((E, U), -1, np.int8),
                   np.zeros((E, U), bool))


class VecArena:
    """E arenas of one scenario. See the module docstring and docs/arena.md."""

    state_size = STATE_SIZE  # values per monster that observe() returns (a subclass may return more)

    def __init__(self, scenario: Scenario | str, num_arenas: int = 1, seed: int = 0, auto_reset: bool = True):
        if isinstance(scenario, str):
            scenario = load_scenario(scenario)
        if num_arenas < 1:
            raise ValueError("num_arenas must be >= 1")
        self.scenario = scenario
        self.map = grid_map(scenario.grid)
        self.E = E = int(num_arenas)
        self.M = M = len(scenario.members)
        self.P = P = len(scenario.party)
        self.U = U = M + P
        self.auto_reset = auto_reset
        self.max_steps = scenario.max_steps
        self._static(scenario)
        self._allocate(E, M, P, U)
        self.reset(seed)

    # -- construction -------------------------------------------------------------------------------
    def _static(self, sc: Scenario) -> None:
        T, M, P = TABLES, self.M, self.P
        kind = [ARCHETYPES.index(m.archetype) for m in sc.members] + [CLASS_KIND[a.cls] for a in sc.party]
        self.kind = np.array(kind, np.int32)  # [U]
        self.side = np.array([0] * M + [1] * P, np.int8)  # 0 pack, 1 party
        scale = np.array([sc.difficulty] * M + [sc.party_level] * P, np.float32)
        k = self.kind
        self.max_hp = (T.hp[k] * scale).astype(np.float32)
        self.max_sp = T.sp[k].copy()
        self.base_atk = (T.atk[k] * scale).astype(np.float32)
        self.base_matk = (T.matk[k] * scale).astype(np.float32)
        self.base_def = T.def_[k].copy()
        self.base_mdef = T.mdef[k].copy()
        self.hit = T.hit[k].copy()
        self.flee = T.flee[k].copy()
        self.level = T.level[k].copy()
        self.adelay_ms = T.adelay[k].copy()
        self.adelay = np.ceil(T.adelay[k] / TICK_MS).astype(np.int16)
        self.amotion = np.maximum(1, np.round(T.adelay[k] / (2 * TICK_MS))).astype(np.int16)  # rAthena: aDelay/2
        self.walk = T.walk[k].copy()
        self.range = T.range[k].copy()
        self.view = T.view[k].copy()
        self.chase = T.chase[k].copy()
        self.ranged_attack = T.ranged_attack[k].copy()
        mode = T.mode[k].copy()
        for i, member in enumerate(sc.members):
            for flag, value in ((MD_AGGRESSIVE, member.aggressive), (MD_ASSIST, member.assist),
                                (MD_CANMOVE, member.can_move)):
                if value is not None:
                    mode[i] = (mode[i] | flag) if value else (mode[i] & ~flag)
            if member.boss:
                mode[i] |= MD_STATUSIMMUNE
        self.mode = mode
        self.can_move_mode = (mode & MD_CANMOVE) != 0
        self.immune = (mode & MD_STATUSIMMUNE) != 0
        self.guard = np.array([m.guard for m in sc.members] + [False] * P)
        self.is_boss = np.array([m.boss for m in sc.members] + [False] * P)
        leader = sc.leader
        self.leader = -1 if leader is None else int(leader)
        self.leader_of = np.array([(-1 if leader is None else leader)] * M, np.int32)  # [M]
        self.is_leader = np.zeros(M, bool)
        if leader is not None:
            self.is_leader[leader] = True
        self.follower = (self.leader_of >= 0) & ~self.is_leader
        # skill tables per unit and slot [U, 3]
        for name in ("sp", "cast", "cooldown", "range", "target", "power", "magic", "radius", "hazard_ticks",
                     "hazard_power", "heal", "heal_pct", "buff_atk", "buff_def", "buff_ticks", "debuff_def",
                     "debuff_ticks", "stun_ticks", "stun_chance", "slow_ticks", "slow_chance", "provoke_ticks",
                     "cancel", "hits"):
            setattr(self, "sk_" + name, getattr(T, "sk_" + name)[k].copy())
        self.heals_allies = np.array([(self.sk_target[u] == T_ALLY).any() for u in range(self.U)])
        self.skill_names = [T.skill_names[kk] for kk in k]
        # party patterns: per adventurer slot, the allowed pattern ids
        self._pattern_choices = [np.array([PATTERN_ID[p] for p in a.patterns], np.int8) for a in sc.party]
        self.pattern_params = _pattern_arrays()
        self.monster_cells = sc.monster_cells
        self.party_cells = sc.party_cells
        self.mean_party_hp = float(self.max_hp[M:].mean())
        self.total_party_hp = float(self.max_hp[M:].sum())
        self.total_pack_hp = float(self.max_hp[:M].sum())
        self.mean_pack_hp = float(self.max_hp[:M].mean())

    def _allocate(self, E: int, M: int, P: int, U: int) -> None:
        before = set(vars(self))
        z = np.zeros
        self.hp = z((E, U), np.float32)
        self.sp = z((E, U), np.float32)
        self.alive_u = z((E, U), bool)
        self.x = z((E, U), np.int32)
        self.y = z((E, U), np.int32)
        self.cell = z((E, U), np.int32)
        self.spawn_cell = z((E, U), np.int32)
        self.target = z((E, U), np.int32)
        self.attack_cd = z((E, U), np.int16)
        self.motion = z((E, U), np.int16)
        self.budget = z((E, U), np.float32)
        self.cast_left = z((E, U), np.int16)
        self.cast_slot = z((E, U), np.int8)
        self.cast_target = z((E, U), np.int32)
        self.cast_cell = z((E, U), np.int32)
        self.cooldown = z((E, U, 3), np.int16)
        self.stun = z((E, U), np.int16)
        self.slow = z((E, U), np.int16)
        self.buff_atk_t = z((E, U), np.int16)
        self.buff_atk = z((E, U), np.float32)
        self.buff_def_t = z((E, U), np.int16)
        self.buff_def = z((E, U), np.float32)
        self.debuff_def_t = z((E, U), np.int16)
        self.debuff_def = z((E, U), np.float32)
        self.provoke_t = z((E, U), np.int16)
        self.provoker = z((E, U), np.int32)
        self.since_attack = z((E, U), np.int32)
        self.since_damaged = z((E, U), np.int32)
        self.since_target = z((E, U), np.int32)
        self.combat = z((E, U), np.int32)
        self.last_attacker = z((E, U), np.int32)
        self.hit_flags = z((E, U), np.int8)
        # monsters: the traditional AI's memory (rAthena mob_data fields)
        self.mstate = z((E, M), np.int8)
        self.angry = z((E, M), bool)
        self.min_chase = z((E, M), np.int32)
        self.next_walk = z((E, M), np.int32)
        self.walk_goal = z((E, M), np.int32)
        self.last_skillcheck = z((E, M), np.int32)
        self.last_link = z((E, M), np.int32)
        self.last_action = z((E, M), np.int16)
        # adventurers
        self.pattern = z((E, P), np.int8)
        self.retreating = z((E, P), bool)
        self.retarget_at = z((E, P), np.int32)
        # lingering areas
        H = HAZARD_SLOTS
        self.h_left = z((E, H), np.int16)
        self.h_pulse = z((E, H), np.int16)
        self.h_x = z((E, H), np.int32)
        self.h_y = z((E, H), np.int32)
        self.h_radius = z((E, H), np.int32)
        self.h_power = z((E, H), np.float32)
        self.h_side = z((E, H), np.int8)
        self.h_owner = z((E, H), np.int32)
        # rings for threat and trends
        self.damage_ring = z((THREAT_TICKS, E, U), np.float32)
        self.threat_sum = z((E, U), np.float32)
        self.hp_ring = z((TREND_TICKS, E, U), np.float32)
        self.steps = z(E, np.int32)
        self.steps_total = 0  # ticks stepped by this object: the rings' write position
        self.moved = z((E, U), bool)  # stepped during the last tick (rAthena: walktimer running)
        self.finished = z(E, bool)
        self.score_prev = z(E, np.float32)
        # what clone_rows copies: every per-arena array (the rings hold arenas on axis 1)
        self._per_arena = tuple(sorted(n for n in set(vars(self)) - before if isinstance(getattr(self, n), np.ndarray)))

    # -- public API ---------------------------------------------------------------------------------
    @property
    def archetype(self) -> np.ndarray:
        """int8[E, M]: index into ARCHETYPES of each monster (fixed by the scenario)."""
        return np.broadcast_to(self.kind[:self.M].astype(np.int8), (self.E, self.M))

    @property
    def alive(self) -> np.ndarray:
        """bool[E, M]: the monsters alive (a copy)."""
        return self.alive_u[:, :self.M].copy()

    @property
    def party_alive(self) -> np.ndarray:
        """bool[E, P]: the adventurers alive (a copy)."""
        return self.alive_u[:, self.M:].copy()

    @property
    def target_pattern(self) -> np.ndarray:
        """int8[E, M]: behaviour-pattern id (adventurers.PATTERNS) of each monster's target, -1 none."""
        t = self.target[:, :self.M]
        has = (t >= self.M) & self.alive
        p = take_unit(self.pattern, np.clip(t - self.M, 0, self.P - 1))
        return np.where(has, p, -1).astype(np.int8)

    def observe(self) -> np.ndarray:
        """float32[E, M, 64]: each monster's state, exactly aiworld.mobs.state.LAYOUT."""
        return encoder.encode(self)

    def traditional_actions(self) -> np.ndarray:
        """int16[E, M]: the action ids the traditional AI would play this tick (nothing changes)."""
        return traditional.decide(self, self._u).action

    def reset(self, seed: int | None = None) -> None:
        """Start a new encounter in every arena (re-seeding the generator if a seed is given)."""
        if seed is not None or not hasattr(self, "rng"):
            self.rng = np.random.default_rng(seed)
        self._reset_rows(np.arange(self.E))
        self._draw()
        self._geometry()

    def clone_rows(self, rows: np.ndarray, seed: int | None = None) -> VecArena:
        """A new VecArena whose arena i is a bit-identical copy of this one's arena rows[i] (rows may repeat),
        mid-encounter: the same state, the same random block for the coming tick, a new generator (`seed`)
        for the ticks after it, and no auto_reset. For lookahead: play a copy forward without touching
        this one."""
        rows = np.asarray(rows, np.int64)
        if rows.ndim != 1 or len(rows) == 0 or rows.min() < 0 or rows.max() >= self.E:
            raise ValueError(f"rows must be a non-empty 1-d array of arena indices in 0..{self.E - 1}")
        new = copy.copy(self)
        new.E = len(rows)
        new.auto_reset = False
        for name in self._per_arena:
            value = getattr(self, name)
            setattr(new, name, value[:, rows].copy() if name in _RINGS else value[rows].copy())
        new._u = self._u[:, rows].copy()
        new.rng = np.random.default_rng(seed)
        new._geometry()
        return new

    def step(self, actions: np.ndarray) -> StepResult:
        E, M, U = self.E, self.M, self.U
        actions = np.asarray(actions)
        if actions.shape != (E, M):
            raise ValueError(f"actions must have shape {(E, M)}, got {actions.shape}")
        actions = actions.astype(np.int16)
        u = self._u
        active = ~self.finished
        live = self.alive_u & active[:, None]
        intents = Intents.empty(E, U)
        traditional_mask = (actions == Action.TRADITIONAL_AI) | (actions < 0) | (actions > Action.FLEE)
        played = np.where(traditional_mask, Action.TRADITIONAL_AI, actions).astype(np.int16)
        # 1. decisions (the traditional AI reads last tick's counters: since_attack == 0 is "attacked last tick")
        decision = traditional.decide(self, u)
        self.since_attack = np.minimum(self.since_attack + 1, FAR)
        self.since_target = np.minimum(self.since_target + 1, FAR)
        trad = traditional_mask & live[:, :M]
        traditional.apply(self, decision, trad, intents)
        ml = ~traditional_mask & live[:, :M]
        if ml.any():
            self._execute(actions, ml, intents, u)
        adventurers.decide(self, live[:, M:], intents, u)
        self.last_action = np.where(live[:, :M], played, self.last_action)
        played = np.where(traditional_mask, decision.action, actions).astype(np.int16)
        # 2-4. resolution
        events = self._resolve(intents, live, u)
        # 5. rewards, outcome, resets
        return self._finish(events, active, played)

    # -- encounters ---------------------------------------------------------------------------------
    def _reset_rows(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        M, P = self.M, self.P
        rng = self.rng
        self.hp[rows] = self.max_hp
        self.sp[rows] = self.max_sp
        self.alive_u[rows] = True
        cells = np.empty((len(rows), self.U), np.int32)
        cells[:, :M] = self._spawn_group(rows, self.monster_cells, M, max(self.leader, 0))
        cells[:, M:] = self._spawn_group(rows, self.party_cells, P, 0)
        self.cell[rows] = cells
        self.spawn_cell[rows] = cells
        self.x[rows] = self.map.cell_x[cells]
        self.y[rows] = self.map.cell_y[cells]
        for name in ("attack_cd", "motion", "cast_left", "stun", "slow", "buff_atk_t", "buff_def_t",
                     "debuff_def_t", "provoke_t", "combat", "hit_flags", "h_left", "h_pulse"):
            getattr(self, name)[rows] = 0
        for name in ("buff_atk", "buff_def", "debuff_def", "budget", "threat_sum"):
            getattr(self, name)[rows] = 0.0
        self.cooldown[rows] = 0
        for name in ("target", "cast_target", "provoker", "last_attacker"):
            getattr(self, name)[rows] = -1
        self.cast_slot[rows] = -1
        for name in ("since_attack", "since_damaged", "since_target"):
            getattr(self, name)[rows] = FAR
        self.moved[rows] = False
        self.damage_ring[:, rows] = 0.0
        self.hp_ring[:, rows] = 1.0
        # the traditional AI starts idle; rAthena: next_walktime = tick + rnd()%1000 + MIN_RANDOMWALKTIME
        self.mstate[rows] = traditional.MSS_IDLE
        self.angry[rows] = (self.mode[:M] & traditional.MD_ANGRY) != 0
        self.min_chase[rows] = self.chase[:M]
        self.next_walk[rows] = rng.integers(0, 10, (len(rows), M)) + traditional.MIN_RANDOMWALKTIME
        self.walk_goal[rows] = -1
        self.last_skillcheck[rows] = -FAR
        self.last_link[rows] = -FAR
        self.last_action[rows] = Action.IDLE
        # the party: one pattern per adventurer, drawn from the scenario's choices
        draw = rng.random((len(rows), P))
        for p, choices in enumerate(self._pattern_choices):
            self.pattern[rows, p] = choices[np.minimum((draw[:, p] * len(choices)).astype(np.int64),
                                                       len(choices) - 1)]
        self.retreating[rows] = False
        self.retarget_at[rows] = 0
        self.steps[rows] = 0
        self.finished[rows] = False
        self.score_prev[rows] = 1.0  # party_damage 0 + pack_hp 1

    def _spawn_group(self, rows: np.ndarray, zone: np.ndarray, count: int, anchor: int) -> np.ndarray:
        """Cells for `count` units in `zone`: the anchor (leader) anywhere in it, the others within 3 cells
        of the anchor where the zone allows (the nearest of 8 random zone cells otherwise)."""
        n = len(rows)
        rng = self.rng
        out = np.empty((n, count), np.int32)
        first = zone[rng.integers(0, len(zone), n)]
        out[:, anchor] = first
        fx, fy = self.map.cell_x[first], self.map.cell_y[first]
        for j in range(count):
            if j == anchor:
                continue
            candidates = zone[rng.integers(0, len(zone), (n, 8))]
            d = np.maximum(np.abs(self.map.cell_x[candidates] - fx[:, None]),
                           np.abs(self.map.cell_y[candidates] - fy[:, None]))
            near = (d <= 3) & (d > 0)
            pick = np.where(near.any(axis=1), near.argmax(axis=1), d.argmin(axis=1))
            out[:, j] = candidates[np.arange(n), pick]
        return out

    def _draw(self) -> None:
        """The next tick's random block (drawn ahead so traditional_actions() sees the same rolls)."""
        self._u = self.rng.random((NR, self.E, self.U), dtype=np.float32)

    # -- geometry cache -----------------------------------------------------------------------------
    def _geometry(self) -> None:
        """Pairwise distances and sight for the current positions (used by observe and the next step)."""
        M = self.M
        x, y = self.x, self.y
        dx = x[:, None, :] - x[:, :, None]  # [E, from, to]
        dy = y[:, None, :] - y[:, :, None]
        self.dist = np.maximum(np.abs(dx), np.abs(dy))
        los_mp = self.map.line_of_sight(self.cell[:, :M, None], dx[:, :M, M:], dy[:, :M, M:])
        los = np.ones_like(self.dist, dtype=bool)
        los[:, :M, M:] = los_mp
        los[:, M:, :M] = los_mp.transpose(0, 2, 1)
        self.los = los
        # enemies, masked by life (FAR where dead)
        alive = self.alive_u
        self.enemy_dist = np.where(self.side[None, :, None] != self.side[None, None, :],
                                   np.where(alive[:, None, :], self.dist, FAR), FAR)  # [E, U, U]
        self.nearest = self.enemy_dist.argmin(axis=2).astype(np.int32)  # [E, U]
        self.nearest_dist = take_pair(self.enemy_dist, self.nearest)
        tgt = np.maximum(self.target, 0)
        has = self.target >= 0
        self.target_dist = np.where(has, take_pair(self.dist, tgt), FAR)
        self.target_los = has & take_pair(los, tgt)

    def refresh(self) -> None:
        """Recompute the caches after editing positions, targets or HP by hand (tests, tools)."""
        self.cell = (self.x * self.map.height + self.y).astype(np.int32)
        self.score_prev = self._scores()[2]
        self._geometry()

    def _scores(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """party_damage, pack_hp and score [E] for the HP now."""
        party_damage = 1.0 - self.hp[:, self.M:].sum(axis=1) / self.total_party_hp
        pack_hp = self.hp[:, :self.M].sum(axis=1) / self.total_pack_hp
        return party_damage.astype(np.float32), pack_hp.astype(np.float32), (party_damage + pack_hp).astype(np.float32)

    # -- effective stats ----------------------------------------------------------------------------
    def atk_eff(self) -> np.ndarray:
        return self.base_atk * (1 + np.where(self.buff_atk_t > 0, self.buff_atk, 0))

    def matk_eff(self) -> np.ndarray:
        return self.base_matk * (1 + np.where(self.buff_atk_t > 0, self.buff_atk, 0))

    def def_factor(self) -> np.ndarray:
        return (1 + np.where(self.buff_def_t > 0, self.buff_def, 0)) * (
            1 - np.where(self.debuff_def_t > 0, self.debuff_def, 0))

    def walk_eff(self) -> np.ndarray:
        return self.walk * np.where(self.slow > 0, 2.0, 1.0).astype(np.float32)

    def skill_ready(self) -> np.ndarray:
        """bool[E, U, 3]: off cooldown and SP enough (state indices 57-59)."""
        return (self.cooldown == 0) & (self.sp[..., None] >= self.sk_sp[None])

    # -- actions 0..9 of learned policies -----------------------------------------------------------
    def _execute(self, actions: np.ndarray, ml: np.ndarray, intents: Intents, u: np.ndarray) -> None:
        """What each action means for a monster not played by the traditional AI (docs/arena.md)."""
        M = self.M
        a = np.where(ml, actions, -1)
        busy = (self.cast_left[:, :M] > 0) | (self.stun[:, :M] > 0)
        ok = ml & ~busy
        target = self.target[:, :M]
        provoked = self.provoke_t[:, :M] > 0
        # the map server's targeting: a monster without a target turns on who hit it, an aggressive one on
        # the nearest enemy it sees
        near = self.nearest[:, :M]
        near_d = self.nearest_dist[:, :M]
        sees = (near_d <= VIEW) & take_pair(self.los, near)
        attacker = self.last_attacker[:, :M]
        hit_now = (self.hit_flags[:, :M] != 0) & (attacker >= 0) & \
            take_unit(self.alive_u, np.maximum(attacker, 0))
        auto = ok & (target < 0) & (a != Action.FLEE)
        new = np.where(auto & hit_now, attacker, target)
        new = np.where(auto & (new < 0) & ((self.mode[:M] & MD_AGGRESSIVE) != 0) & sees, near, new)
        new = np.where(ok & (a == Action.ATTACK) & (new < 0) & sees, near, new)
        # CHANGE_TARGET: the nearest other enemy in view
        change = ok & (a == Action.CHANGE_TARGET) & ~provoked
        if change.any():
            d = self.enemy_dist[:, :M].copy()
            cur = np.clip(new, 0, None)
            np.put_along_axis(d, cur[..., None], np.where((new >= 0)[..., None], FAR,
                                                          np.take_along_axis(d, cur[..., None], 2)), 2)
            other = d.argmin(axis=2)
            found = np.take_along_axis(d, other[..., None], 2)[..., 0] <= VIEW
            new = np.where(change & found, other, new)
        flee = ok & (a == Action.FLEE)
        new = np.where(flee & ~provoked, -1, new)  # a provoked monster runs but keeps its provoker
        self._set_target(new, ml, slice(0, M))
        # intents
        act, move, slot = intents.act[:, :M], intents.move[:, :M], intents.slot[:, :M]
        act[ok & (a == Action.ATTACK)] = I_ATTACK
        skill = ok & (a >= Action.SKILL_1) & (a <= Action.SKILL_3)
        act[skill] = I_SKILL
        slot[skill] = (a[skill] - Action.SKILL_1).astype(np.int8)
        movers = ok & self.can_move_mode[None, :M] & (
            (a == Action.MOVE_CLOSER) | (a == Action.MOVE_AWAY) | (a == Action.MOVE_RANDOM) | (a == Action.FLEE))
        if not movers.any():
            return
        tgt = self.target[:, :M]
        has = tgt >= 0
        tcell = take_unit(self.cell, np.maximum(tgt, 0))
        here = self.cell[:, :M]
        ncell = take_unit(self.cell, near)
        enemy_near = near_d < FAR
        d = np.full(here.shape, -1, np.int8)
        closer = movers & (a == Action.MOVE_CLOSER)
        d = np.where(closer & has, self.map.toward_dir(tcell, here), d)
        # without a target a follower walks back to its leader
        if self.leader >= 0:
            lead = self.leader
            lcell = self.cell[:, lead:lead + 1]
            far_from_leader = self.dist[:, :M, lead] > MOB_SLAVEDISTANCE
            back = closer & ~has & self.follower[None] & self.alive_u[:, lead:lead + 1] & far_from_leader
            d = np.where(back, self.map.toward_dir(np.broadcast_to(lcell, here.shape), here), d)
        away = movers & (a == Action.MOVE_AWAY)
        from_cell = np.where(has, tcell, ncell)
        d = np.where(away & (has | enemy_near), self.map.away_dir(from_cell, here), d)
        d = np.where(flee & movers & enemy_near, self.map.away_dir(ncell, here), d)
        rand = movers & (a == Action.MOVE_RANDOM)
        if rand.any():
            d = np.where(rand, self._sideways(here, np.where(has, tcell, -1), u[R_MOVE][:, :M]), d)
        move[movers] = d[movers]
        act[movers & (d >= 0)] = I_MOVE

    def _sideways(self, here: np.ndarray, center: np.ndarray, roll: np.ndarray) -> np.ndarray:
        """A random legal step that keeps the Chebyshev distance to `center` (any legal step where
        center is -1 or no such step exists); -1 when no step is legal."""
        mp = self.map
        allowed = mp.allowed[here]  # [..., 8]
        nx = mp.cell_x[here][..., None] + DX
        ny = mp.cell_y[here][..., None] + DY
        cx = mp.cell_x[np.maximum(center, 0)][..., None]
        cy = mp.cell_y[np.maximum(center, 0)][..., None]
        before = np.maximum(np.abs(mp.cell_x[here] - mp.cell_x[np.maximum(center, 0)]),
                            np.abs(mp.cell_y[here] - mp.cell_y[np.maximum(center, 0)]))[..., None]
        keep = allowed & (np.maximum(np.abs(nx - cx), np.abs(ny - cy)) == before) & (center >= 0)[..., None]
        choice = np.where(keep.any(axis=-1, keepdims=True), keep, allowed)
        count = choice.sum(axis=-1)
        pick = np.minimum((roll * count).astype(np.int64), np.maximum(count - 1, 0))
        order = np.cumsum(choice, axis=-1) - 1
        hit = choice & (order == pick[..., None])
        return np.where(count > 0, hit.argmax(axis=-1), -1).astype(np.int8)

    def _set_target(self, new: np.ndarray, mask: np.ndarray, units: slice = slice(None)) -> None:
        """Set targets of `units` (columns) where mask, restarting since_target where they change."""
        cur = self.target[:, units]
        changed = mask & (new != cur)
        self.since_target[:, units] = np.where(changed, 0, self.since_target[:, units])
        self.target[:, units] = np.where(mask, new, cur)

    # -- resolution ---------------------------------------------------------------------------------
    def _resolve(self, intents: Intents, live: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
        E, U = self.E, self.U
        n = E * U
        dmg = _DamageLog()
        heal_to = []  # (victim flat, amount, healer flat)
        ev = {k: np.zeros(n, np.float32) for k in ("buffs", "control")}
        tgt_before = self.target.copy()
        busy = (self.cast_left > 0) | (self.stun > 0)
        # casts in progress
        casting = live & (self.cast_left > 0)
        self.cast_left[casting] -= 1
        done_cast = casting & (self.cast_left == 0)
        # new skills
        want = live & ~busy & (intents.act == I_SKILL)
        started = self._start_skills(want, intents.slot, intents.reflex)
        instant = started & (self.cast_left == 0)
        resolving = np.flatnonzero((done_cast | instant).ravel())
        if len(resolving):
            self._skill_effects(resolving, u, dmg, heal_to, ev)
        # attacks
        attack = live & ~busy & (intents.act == I_ATTACK) & (self.attack_cd == 0) & (self.target >= 0)
        if attack.any():
            self._attacks(attack, u, dmg)
        # movement
        self._move(live & ~busy & (intents.act == I_MOVE), intents.move)
        # lingering areas
        if (self.h_left > 0).any():
            self._hazards(u, dmg)
        return self._apply(dmg, heal_to, ev, live, tgt_before)

    def _start_skills(self, want: np.ndarray, slot_arr: np.ndarray, reflex: np.ndarray) -> np.ndarray:
        """Start the skills whose requirements hold; returns bool[E, U] of those started."""
        started = np.zeros_like(want)
        if not want.any():
            return started
        U = self.U
        f = np.flatnonzero(want.ravel())
        e, uu = f // U, f % U
        s = slot_arr.ravel()[f].astype(np.int64)
        # one offensive rhythm: a skill waits for the attack delay like a normal attack, and resets it
        # (the traditional AI's mobskill events excepted, as rAthena's ignore the act delay)
        ok = (self.cooldown.reshape(-1, 3)[f, s] == 0) & (self.sp.ravel()[f] >= self.sk_sp[uu, s]) & \
            ((self.attack_cd.ravel()[f] == 0) | reflex.ravel()[f])
        kind = self.sk_target[uu, s]
        rng = self.sk_range[uu, s]
        t = self.target.ravel()[f]
        tt = np.maximum(t, 0)
        enemy = (kind == T_ENEMY) | (kind == T_GROUND)
        t_alive = (t >= 0) & self.alive_u[e, tt]
        in_reach = (self.dist[e, uu, tt] <= rng) & self.los[e, uu, tt]
        ok &= ~enemy | (t_alive & in_reach)
        ally = kind == T_ALLY
        chosen = np.where(enemy, tt, uu)
        if ally.any():
            chosen = np.where(ally, self._lowest_ally(e, uu, rng), chosen)
        cell = np.where(kind == T_GROUND, self.cell[e, tt], self.cell[e, uu])
        f, e, uu, s, chosen, cell = f[ok], e[ok], uu[ok], s[ok], chosen[ok], cell[ok]
        self.cast_left[e, uu] = self.sk_cast[uu, s]
        self.cast_slot[e, uu] = s
        self.cast_target[e, uu] = chosen
        self.cast_cell[e, uu] = cell
        self.cooldown[e, uu, s] = self.sk_cooldown[uu, s]
        started[e, uu] = True
        return started

    def _lowest_ally(self, e: np.ndarray, uu: np.ndarray, rng: np.ndarray) -> np.ndarray:
        """Per caster: the living same-side unit within `rng` cells (itself included) lowest in HP ratio."""
        ratio = self.hp[e] / self.max_hp[None]
        same = (self.side[None] == self.side[uu][:, None]) & self.alive_u[e] & (self.dist[e, uu] <= rng[:, None])
        same[np.arange(len(e)), uu] = True
        return np.where(same, ratio, np.inf).argmin(axis=1)

    def _skill_effects(self, f: np.ndarray, u: np.ndarray, dmg: _DamageLog, heal_to: list,
                       ev: dict[str, np.ndarray]) -> None:
        U = self.U
        e, uu = f // U, f % U
        s = self.cast_slot.ravel()[f].astype(np.int64)
        t = self.cast_target.ravel()[f]
        cell = self.cast_cell.ravel()[f]
        kind = self.sk_target[uu, s]
        self.cast_slot.ravel()[f] = -1
        # at the end of a cast the target must still be there: range + 1 (rAthena's leeway) and sight
        enemy = kind == T_ENEMY
        valid = ~enemy | (self.alive_u[e, t] & (self.dist[e, uu, t] <= self.sk_range[uu, s] + 1) & self.los[e, uu, t])
        valid &= self.sp[e, uu] >= self.sk_sp[uu, s]
        valid &= self.alive_u[e, uu]
        if not valid.all():
            f, e, uu, s, t, cell, kind = f[valid], e[valid], uu[valid], s[valid], t[valid], cell[valid], kind[valid]
        if len(f) == 0:
            return
        enemy = kind == T_ENEMY
        self.sp[e, uu] -= self.sk_sp[uu, s]
        self.motion[e, uu] = np.maximum(self.motion[e, uu], self.amotion[uu])
        self.attack_cd[e, uu] = np.maximum(self.attack_cd[e, uu], self.adelay[uu])
        power = self.sk_power[uu, s]
        magic = self.sk_magic[uu, s]
        atk = np.where(magic, self.matk_eff()[e, uu], self.atk_eff()[e, uu])
        radius = self.sk_radius[uu, s]
        area = (kind == T_GROUND) | (kind == T_AROUND)
        damaging = power > 0
        self.since_attack[e[damaging], uu[damaging]] = 0
        # single-target damage
        single = damaging & enemy
        if single.any():
            i = np.flatnonzero(single)
            hit = magic[i] | (u[R_SKILL_HIT, e[i], uu[i]] < self._hit_rate(e[i], uu[i], t[i]))
            i = i[hit]
            amount, prevented = self._damage(e[i], uu[i], t[i], atk[i] * power[i], magic[i],
                                             u[R_SKILL_DMG, e[i], uu[i]])
            dmg.add(e[i] * U + t[i], amount, e[i] * U + uu[i], magic[i], False, self.ranged_attack[uu[i]] |
                    (self.sk_range[uu[i], s[i]] > 3), True, prevented)
        # area damage around a cell
        if (damaging & area).any():
            i = np.flatnonzero(damaging & area)
            cx, cy = self.map.cell_x[cell[i]], self.map.cell_y[cell[i]]
            ex, ey = self.x[e[i]], self.y[e[i]]  # [n, U]
            inside = (np.maximum(np.abs(ex - cx[:, None]), np.abs(ey - cy[:, None])) <= radius[i][:, None]) & \
                self.alive_u[e[i]] & (self.side[None] != self.side[uu[i]][:, None])
            ii, vv = np.nonzero(inside)
            if len(ii):
                k = i[ii]
                amount, prevented = self._damage(e[k], uu[k], vv, atk[k] * power[k], magic[k],
                                                 u[R_SKILL_DMG, e[k], vv])
                dmg.add(e[k] * U + vv, amount, e[k] * U + uu[k], magic[k], True, self.sk_range[uu[k], s[k]] > 3,
                        True, prevented)
        # lingering areas (few: a loop is fine)
        for i in np.flatnonzero(self.sk_hazard_ticks[uu, s] > 0):
            ei = e[i]
            h = int(np.argmin(self.h_left[ei]))
            self.h_left[ei, h] = self.sk_hazard_ticks[uu[i], s[i]]
            self.h_pulse[ei, h] = HAZARD_PULSE
            self.h_x[ei, h], self.h_y[ei, h] = self.map.cell_x[cell[i]], self.map.cell_y[cell[i]]
            self.h_radius[ei, h] = radius[i]
            self.h_power[ei, h] = self.matk_eff()[ei, uu[i]] * self.sk_hazard_power[uu[i], s[i]]
            self.h_side[ei, h] = self.side[uu[i]]
            self.h_owner[ei, h] = uu[i]
        # heals
        healing = (self.sk_heal[uu, s] > 0) | (self.sk_heal_pct[uu, s] > 0)
        if healing.any():
            i = np.flatnonzero(healing)
            roll = u[R_SKILL_DMG, e[i], uu[i]]
            amount = self.sk_heal[uu[i], s[i]] * self.matk_eff()[e[i], uu[i]] * (0.9 + 0.2 * roll)
            amount = amount + self.sk_heal_pct[uu[i], s[i]] * self.max_hp[t[i]]
            heal_to.append((e[i] * U + t[i], amount.astype(np.float32), e[i] * U + uu[i]))
        # buffs: the caster (self) or every living ally around it (party)
        buffing = (self.sk_buff_atk[uu, s] > 0) | (self.sk_buff_def[uu, s] > 0)
        if buffing.any():
            i = np.flatnonzero(buffing)
            party = (kind[i] == T_PARTY)[:, None]
            near = (self.dist[e[i], uu[i]] <= radius[i][:, None]) & self.alive_u[e[i]] & \
                (self.side[None] == self.side[uu[i]][:, None])
            who = np.where(party, near, np.arange(U)[None] == uu[i][:, None])
            ii, vv = np.nonzero(who)
            k = i[ii]
            for amount_arr, ticks_arr, left, value in ((self.sk_buff_atk, self.sk_buff_ticks, self.buff_atk_t,
                                                        self.buff_atk),
                                                       (self.sk_buff_def, self.sk_buff_ticks, self.buff_def_t,
                                                        self.buff_def)):
                amount = amount_arr[uu[k], s[k]]
                g = amount > 0
                if g.any():
                    fresh = left[e[k][g], vv[g]] == 0
                    left[e[k][g], vv[g]] = np.maximum(left[e[k][g], vv[g]], ticks_arr[uu[k][g], s[k][g]])
                    value[e[k][g], vv[g]] = np.maximum(np.where(fresh, 0, value[e[k][g], vv[g]]), amount[g])
                    np.add.at(ev["buffs"], e[k][g] * U + uu[k][g], (vv[g] != uu[k][g]) | fresh)
        # statuses on the single enemy target
        if enemy.any():
            i = np.flatnonzero(enemy & self.alive_u[e, t])
            immune = self.immune[t[i]]
            roll = u[R_STATUS, e[i], uu[i]]
            stun = (self.sk_stun_ticks[uu[i], s[i]] > 0) & (roll < self.sk_stun_chance[uu[i], s[i]]) & ~immune
            slow = (self.sk_slow_ticks[uu[i], s[i]] > 0) & (roll < self.sk_slow_chance[uu[i], s[i]]) & ~immune
            debuff = self.sk_debuff_ticks[uu[i], s[i]] > 0
            provoke = self.sk_provoke_ticks[uu[i], s[i]] > 0
            ti, ei, ci, si = t[i], e[i], uu[i], s[i]
            self.stun[ei[stun], ti[stun]] = np.maximum(self.stun[ei[stun], ti[stun]],
                                                       self.sk_stun_ticks[ci[stun], si[stun]])
            self.slow[ei[slow], ti[slow]] = np.maximum(self.slow[ei[slow], ti[slow]],
                                                       self.sk_slow_ticks[ci[slow], si[slow]])
            self.debuff_def_t[ei[debuff], ti[debuff]] = self.sk_debuff_ticks[ci[debuff], si[debuff]]
            self.debuff_def[ei[debuff], ti[debuff]] = self.sk_debuff_def[ci[debuff], si[debuff]]
            if provoke.any():
                pe, pt, pc = ei[provoke], ti[provoke], ci[provoke]
                self.provoke_t[pe, pt] = self.sk_provoke_ticks[pc, si[provoke]]
                self.provoker[pe, pt] = pc
                changed = self.target[pe, pt] != pc
                self.since_target[pe[changed], pt[changed]] = 0
                self.target[pe, pt] = pc
            np.add.at(ev["control"], ei * U + ci, stun.astype(np.float32) + slow + debuff + provoke)
            # a stun interrupts a cast
            self.cast_left[ei[stun], ti[stun]] = 0
            self.cast_slot[ei[stun], ti[stun]] = -1

    def _hit_rate(self, e: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """rAthena: 80 + HIT - FLEE percent, within [5, 95]."""
        return np.clip(80 + self.hit[src] - self.flee[dst], 5, 95) / 100.0

    def _damage(self, e: np.ndarray, src: np.ndarray, dst: np.ndarray, raw: np.ndarray, magic: np.ndarray,
                roll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Damage after the defender's (M)DEF, and the part of it its DEF buffs prevented.

        Renewal style: hard (M)DEF scales, soft (M)DEF subtracts: physical
        raw * (4000 + DEF) / (4000 + 10 DEF) - DEF / 2, magic raw * (1000 + MDEF) / (1000 + 10 MDEF) - MDEF / 2;
        raw = (M)ATK * skill power * uniform(0.9, 1.1); at least 1.
        """
        raw = raw * (0.9 + 0.2 * roll)
        base = np.where(magic, self.base_mdef[dst], self.base_def[dst])
        buffed = np.where(self.buff_def_t[e, dst] > 0, self.buff_def[e, dst], 0.0)
        debuffed = np.where(self.debuff_def_t[e, dst] > 0, self.debuff_def[e, dst], 0.0)
        without = base * (1 - debuffed)
        full = without * (1 + buffed)
        out = _mitigate(raw, full, magic)
        prevented = _mitigate(raw, without, magic) - out
        return out.astype(np.float32), np.maximum(prevented, 0).astype(np.float32)

    def _attacks(self, attack: np.ndarray, u: np.ndarray, dmg: _DamageLog) -> None:
        U = self.U
        f = np.flatnonzero(attack.ravel())
        e, uu = f // U, f % U
        t = self.target.ravel()[f]
        ok = self.alive_u[e, t] & (self.dist[e, uu, t] <= self.range[uu]) & self.los[e, uu, t]
        f, e, uu, t = f[ok], e[ok], uu[ok], t[ok]
        if len(f) == 0:
            return
        self.attack_cd[e, uu] = self.adelay[uu]
        self.motion[e, uu] = np.maximum(self.motion[e, uu], self.amotion[uu])
        self.since_attack[e, uu] = 0
        hit = u[R_HIT, e, uu] < self._hit_rate(e, uu, t)
        e, uu, t = e[hit], uu[hit], t[hit]
        magic = np.zeros(len(e), bool)
        amount, prevented = self._damage(e, uu, t, self.atk_eff()[e, uu], magic, u[R_DMG, e, uu])
        dmg.add(e * U + t, amount, e * U + uu, magic, False, self.ranged_attack[uu], False, prevented)

    def _move(self, want: np.ndarray, direction: np.ndarray) -> None:
        walk = self.walk_eff()
        cap = walk * 1.4
        self.budget = np.minimum(self.budget + TICK_MS, cap)
        want = want & (direction >= 0) & (self.motion == 0) & self.can_move_mode[None]
        if not want.any():
            self.moved = np.zeros_like(want)
            return
        d = np.maximum(direction, 0).astype(np.int64)
        cost = walk * np.where(DIAGONAL[d], 1.4, 1.0)
        go = want & (self.budget >= cost) & self.map.allowed[self.cell, d]
        if self.guard.any():
            nx, ny = self.x + DX[d], self.y + DY[d]
            sx, sy = self.map.cell_x[self.spawn_cell], self.map.cell_y[self.spawn_cell]
            go &= ~self.guard[None] | (np.maximum(np.abs(nx - sx), np.abs(ny - sy)) <= GUARD_RADIUS)
        self.moved = go
        self.budget = np.where(go, self.budget - cost, self.budget).astype(np.float32)
        self.x = np.where(go, self.x + DX[d], self.x)
        self.y = np.where(go, self.y + DY[d], self.y)
        self.cell = np.where(go, self.cell + self.map.step_offset[d], self.cell)

    def _hazards(self, u: np.ndarray, dmg: _DamageLog) -> None:
        U = self.U
        active = (self.h_left > 0) & ~self.finished[:, None]  # a finished (frozen) arena stays as it ended
        self.h_pulse = np.where(active, self.h_pulse - 1, self.h_pulse).astype(np.int16)
        pulse = active & (self.h_pulse <= 0)
        if pulse.any():
            rows, hs = np.nonzero(pulse)
            ex, ey = self.x[rows], self.y[rows]
            inside = (np.maximum(np.abs(ex - self.h_x[rows, hs][:, None]), np.abs(ey - self.h_y[rows, hs][:, None]))
                      <= self.h_radius[rows, hs][:, None]) & self.alive_u[rows] & \
                (self.side[None] != self.h_side[rows, hs][:, None])
            ii, vv = np.nonzero(inside)
            if len(ii):
                e, h = rows[ii], hs[ii]
                src = self.h_owner[e, h]
                magic = np.ones(len(ii), bool)
                amount, prevented = self._damage(e, src, vv, self.h_power[e, h], magic, u[R_SKILL_DMG, e, vv])
                dmg.add(e * U + vv, amount, e * U + src, magic, True, np.ones(len(ii), bool), True, prevented)
            self.h_pulse[pulse] = HAZARD_PULSE
        self.h_left = np.where(active, self.h_left - 1, 0).astype(np.int16)

    def _apply(self, dmg: _DamageLog, heal_to: list, ev: dict[str, np.ndarray], live: np.ndarray,
               tgt_before: np.ndarray) -> dict[str, np.ndarray]:
        E, U = self.E, self.U
        n = E * U
        victim, amount, src, magic, area, long_, skill, prevented = dmg.arrays()
        taken = np.bincount(victim, amount, minlength=n).astype(np.float32)
        healed_in = np.zeros(n, np.float32)
        healed_by = np.zeros(n, np.float32)
        hp = self.hp.ravel()
        if heal_to:
            to = np.concatenate([h[0] for h in heal_to])
            amt = np.concatenate([h[1] for h in heal_to])
            by = np.concatenate([h[2] for h in heal_to])
            alive_to = self.alive_u.ravel()[to]
            effective = np.where(alive_to, np.minimum(amt, self.max_hp[to % U] - hp[to]), 0)
            healed_in = np.bincount(to, effective, minlength=n).astype(np.float32)
            healed_by = np.bincount(by, effective, minlength=n).astype(np.float32)
        before = self.hp.copy()
        self.hp = np.minimum(self.hp + healed_in.reshape(E, U), self.max_hp) - taken.reshape(E, U)
        died = self.alive_u & (self.hp <= 0)
        self.hp = np.maximum(self.hp, 0).astype(np.float32)
        # who hit whom: rAthena's attacked_id and the mobskill events of the next think
        self.hit_flags[:] = 0
        if len(victim):
            hit_by_enemy = self.side[victim % U] != self.side[src % U]
            v, s_ = victim[hit_by_enemy], src[hit_by_enemy]
            self.last_attacker.ravel()[v] = s_ % U
            flags = np.where(long_[hit_by_enemy], HIT_LONG, HIT_MELEE) | np.where(skill[hit_by_enemy], HIT_SKILL, 0) \
                | np.where(magic[hit_by_enemy], HIT_MAGIC, 0)
            hf = self.hit_flags.ravel()
            for bit in (HIT_MELEE, HIT_LONG, HIT_SKILL, HIT_MAGIC):
                hf[v[(flags & bit) != 0]] |= bit
        damaged = taken.reshape(E, U) > 0
        # damage interrupts cancelable casts (rAthena CastCancel); the angry mood ends when hit
        casting = (self.cast_left > 0) & damaged
        if casting.any():
            slot = np.maximum(self.cast_slot, 0).astype(np.int64)
            cancel = casting & self.sk_cancel[np.arange(self.U)[None], slot]
            self.cast_left[cancel] = 0
            self.cast_slot[cancel] = -1
        self.angry &= ~damaged[:, :self.M]
        # the fallen
        if died.any():
            self.alive_u &= ~died
            for name in ("cast_left", "stun", "slow", "buff_atk_t", "buff_def_t", "debuff_def_t", "provoke_t"):
                getattr(self, name)[died] = 0
            self.cast_slot[died] = -1
            self.target[died] = -1
        # targets on the dead are dropped (a monster's AI state follows in its next think)
        tgt = np.maximum(self.target, 0)
        lost = (self.target >= 0) & ~take_unit(self.alive_u, tgt)
        self.target[lost] = -1
        # timers
        for name in ("attack_cd", "motion", "stun", "slow", "buff_atk_t", "buff_def_t", "debuff_def_t",
                     "provoke_t"):
            arr = getattr(self, name)
            np.subtract(arr, 1, out=arr, where=arr > 0)
        np.subtract(self.cooldown, 1, out=self.cooldown, where=self.cooldown > 0)
        self.sp = np.minimum(self.sp + self.max_sp * 0.001, self.max_sp) * self.alive_u
        # counters
        alive = self.alive_u
        self.since_damaged = np.where(damaged, 0, np.minimum(self.since_damaged + 1, FAR))
        fighting = alive & ((self.target >= 0) | (self.since_damaged < 50))
        self.combat = np.where(fighting, self.combat + 1, 0)
        # rings (shared positions: every arena writes the same slot each tick)
        self.steps_total += 1
        slot5 = self.steps_total % THREAT_TICKS
        fresh = np.where(alive, taken.reshape(E, U), 0).astype(np.float32)
        self.threat_sum = np.maximum(self.threat_sum + fresh - self.damage_ring[slot5], 0)
        self.damage_ring[slot5] = fresh
        self.hp_ring[self.steps_total % TREND_TICKS] = self.hp / self.max_hp
        # per-unit events for the rewards
        far = (self.nearest_dist >= 3).ravel()
        return {
            "dealt": np.bincount(src, amount, minlength=n).astype(np.float32),
            "dealt_magic": np.bincount(src, amount * (magic | area), minlength=n).astype(np.float32),
            "dealt_far": np.bincount(src, amount * far[src], minlength=n).astype(np.float32),
            "taken": taken,
            "prevented": np.bincount(victim, prevented, minlength=n).astype(np.float32),
            "healed": healed_by,
            "buffs": ev["buffs"],
            "control": ev["control"],
            "died": died.ravel(),
            "hp_before": before.ravel(),
        }

    # -- end of tick --------------------------------------------------------------------------------
    def _finish(self, events: dict[str, np.ndarray], active: np.ndarray, played: np.ndarray) -> StepResult:
        E, M = self.E, self.M
        self.steps += active
        monsters_alive = self.alive_u[:, :M].sum(axis=1)
        adventurers_alive = self.alive_u[:, M:].sum(axis=1)
        party_damage, pack_hp, score = self._scores()
        wiped_pack = monsters_alive == 0
        wiped_party = adventurers_alive == 0
        timeout = self.steps >= self.max_steps
        done = active & (wiped_pack | wiped_party | timeout)
        winner = np.where(wiped_party & ~wiped_pack, 1, np.where(wiped_pack & ~wiped_party, -1, 0)).astype(np.int8)
        truncated = done & ~(wiped_pack | wiped_party)
        # enemies targeting each monster (the tank's aggro)
        tgt = self.target[:, M:]
        aggro = np.zeros((E, M), np.float32)
        for p in range(self.P):
            t = tgt[:, p]
            hit = (t >= 0) & (t < M) & self.alive_u[:, M + p]
            aggro[hit, t[hit]] += 1
        team_delta = np.where(active, score - self.score_prev, 0).astype(np.float32)
        self.score_prev = score
        terminal = np.where(done, winner, 0).astype(np.float32)
        reward = rewards.compute(self, events, team_delta, terminal, done, aggro)
        reward = np.where(active[:, None], reward, 0).astype(np.float32)
        outcome = {"winner": winner, "steps": self.steps.copy(), "party_damage": party_damage.astype(np.float32),
                   "pack_hp": pack_hp.astype(np.float32), "score": score.copy(),
                   "monsters_alive": monsters_alive.astype(np.int32),
                   "adventurers_alive": adventurers_alive.astype(np.int32)}
        final_states = None
        if done.any():
            if self.auto_reset:
                self._geometry()
                final_states = np.zeros((E, M, STATE_SIZE), np.float32)
                final_states[done] = encoder.encode(self)[done]
                self._reset_rows(np.flatnonzero(done))
            else:
                self.finished |= done
        self._draw()
        self._geometry()
        return StepResult(reward=reward, done=done, outcome=outcome, truncated=truncated, actions=played,
                          final_states=final_states)


def _mitigate(raw: np.ndarray, defense: np.ndarray, magic: np.ndarray) -> np.ndarray:
    hard = np.where(magic, (1000 + defense) / (1000 + 10 * defense), (4000 + defense) / (4000 + 10 * defense))
    return np.maximum(1.0, raw * hard - defense / 2)


class _DamageLog:
    """Damage events of one tick, concatenated at the end."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, victim, amount, src, magic, area, long_, skill, prevented) -> None:
        n = len(victim)
        if n == 0:
            return
        b = np.broadcast_to
        self.parts.append((np.asarray(victim, np.int64), np.asarray(amount, np.float32), np.asarray(src, np.int64),
                           b(np.asarray(magic, bool), (n,)), b(np.asarray(area, bool), (n,)),
                           b(np.asarray(long_, bool), (n,)), b(np.asarray(skill, bool), (n,)),
                           np.asarray(prevented, np.float32)))

    def arrays(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            e_i, e_f, e_b = np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, bool)
            return e_i, e_f, e_i, e_b, e_b, e_b, e_b, e_f
        return tuple(np.concatenate([p[i] for p in self.parts]) for i in range(8))


def _pattern_arrays() -> dict[str, np.ndarray]:
    from trainers.arena.units import CLASSES
    return {
        "cls": np.array([CLASSES.index(p.cls) for p in PATTERNS], np.int8),
        "focus": np.array([p.focus for p in PATTERNS], np.int8),
        "retreat": np.array([p.retreat for p in PATTERNS], np.float32),
        "keep_min": np.array([p.keep_min for p in PATTERNS], np.int32),
        "keep_max": np.array([p.keep_max for p in PATTERNS], np.int32),
        "aoe_min": np.array([p.aoe_min for p in PATTERNS], np.int32),
        "heal_below": np.array([p.heal_below for p in PATTERNS], np.float32),
        "retarget": np.array([p.retarget for p in PATTERNS], np.int32),
    }


__all__ = ["VecArena", "StepResult", "Intents"]
