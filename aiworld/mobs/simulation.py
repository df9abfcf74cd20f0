"""Plausible monster states without the arena: a load generator, not a game.

A seeded numpy world per map: monsters of the six archetypes, some in packs, a few adventurers
walking around. Each tick the monsters' states follow from positions, HP, SP and cooldowns, with
every index meaning what aiworld/mobs/state.py says (values in [0, 1], flags 0 or 1), and the
answered actions move them crudely (closer, away, flee) so that decisions matter. The arena of the
training issue replaces this with real rAthena-style combat.
"""

from __future__ import annotations

import numpy as np

from aiworld.mobs.state import ARCHETYPES, INDEX, STATE_SIZE, VIEW_RANGE_CELLS, Action

MAP_SIZE = 120


class MapSimulation:
    def __init__(self, monsters: int, seed: int = 0, adventurers: int | None = None):
        adventurers = adventurers or max(4, monsters // 8)
        self.rng = np.random.default_rng(seed)
        self.n = monsters
        self.archetype_ids = np.arange(monsters) % len(ARCHETYPES)
        self.archetypes = [ARCHETYPES[a] for a in self.archetype_ids]
        self.mob_ids = np.arange(monsters, dtype=np.int64) + seed * 1_000_000
        self.class_ids = 1000 + self.archetype_ids * 7
        self.packs = [int(i // 4) if i % 3 == 0 else None for i in range(monsters)]
        self.pos = self.rng.uniform(0, MAP_SIZE, (monsters, 2))
        self.spawn = self.pos.copy()
        self.hp = np.ones(monsters)
        self.sp = np.ones(monsters)
        self.cooldown = np.zeros((monsters, 3))
        self.last_action = np.zeros(monsters)
        self.combat_ticks = np.zeros(monsters)
        self.heroes = self.rng.uniform(0, MAP_SIZE, (adventurers, 2))
        self.hero_hp = np.ones(adventurers)

    def states(self) -> np.ndarray:
        s = np.zeros((self.n, STATE_SIZE), np.float32)
        c = INDEX
        distance = np.linalg.norm(self.pos[:, None, :] - self.heroes[None, :, :], axis=2)
        nearest = distance.argmin(axis=1)
        near = distance[np.arange(self.n), nearest]
        seen = distance < VIEW_RANGE_CELLS
        has_target = near < VIEW_RANGE_CELLS
        attack_range = np.where(np.isin(self.archetype_ids, [3, 5]), 9.0, 1.5)
        s[:, c["hp_ratio"]] = self.hp
        s[:, c["sp_ratio"]] = self.sp
        s[:, c["level"]] = 0.2 + 0.05 * (self.archetype_ids % 4)
        s[:, c["atk"]] = 0.1 + 0.05 * (self.archetype_ids == 0)
        s[:, c["def"]] = 0.1 + 0.2 * (self.archetype_ids == 4)
        s[:, c["move_speed"]] = 0.8
        s[:, c["attack_range"]] = attack_range / VIEW_RANGE_CELLS
        s[:, c["attack_delay"]] = 0.3
        s[:, c["pos_x"]] = self.pos[:, 0] / MAP_SIZE
        s[:, c["pos_y"]] = self.pos[:, 1] / MAP_SIZE
        s[:, c["target_in_sight"]] = has_target
        s[:, c["spawn_distance"]] = np.minimum(1, np.linalg.norm(self.pos - self.spawn, axis=1) / VIEW_RANGE_CELLS)
        s[:, c["open_space"]] = 0.9
        allies = np.array([np.count_nonzero(np.linalg.norm(self.pos - p, axis=1) < VIEW_RANGE_CELLS) - 1
                           for p in self.pos]) if self.n <= 512 else np.full(self.n, 3)
        s[:, c["allies_nearby"]] = np.minimum(1, allies / 10)
        s[:, c["allies_avg_hp"]] = 1.0
        s[:, c["ally_lowest_hp"]] = np.minimum(1, self.hp.min() + 0.2)
        s[:, c["is_leader"]] = [1.0 if p is not None and i % 4 == 0 else 0.0 for i, p in enumerate(self.packs)]
        s[:, c["pack_size"]] = [0.4 if p is not None else 0.0 for p in self.packs]
        s[:, c["enemy_count"]] = np.minimum(1, seen.sum(axis=1) / 10)
        s[:, c["target_distance"]] = np.where(has_target, np.minimum(1, near / VIEW_RANGE_CELLS), 1.0)
        s[:, c["threat"]] = np.where(has_target, np.clip(1 - near / VIEW_RANGE_CELLS, 0, 1) * 0.5, 0)
        s[:, c["target_hp"]] = np.where(has_target, self.hero_hp[nearest], 0)
        s[:, c["target_melee"]] = has_target & (nearest % 4 == 0)
        s[:, c["target_ranged"]] = has_target & (nearest % 4 == 1)
        s[:, c["target_mage"]] = has_target & (nearest % 4 == 2)
        s[:, c["target_support"]] = has_target & (nearest % 4 == 3)
        s[:, c["target_in_range"]] = has_target & (near <= attack_range)
        s[:, c["nearest_enemy_distance"]] = np.minimum(1, near / VIEW_RANGE_CELLS)
        s[:, c["has_target"]] = has_target
        s[:, c["skill1_cooldown"]:c["skill3_cooldown"] + 1] = self.cooldown
        s[:, c["hp_trend"]] = 0.5
        s[:, c["target_hp_trend"]] = 0.5
        s[:, c["combat_time"]] = np.minimum(1, self.combat_ticks / 600)
        s[:, c["last_action"]] = self.last_action
        s[:, c["mode_aggressive"]] = np.isin(self.archetype_ids, [0, 3, 5])
        s[:, c["mode_can_move"]] = 1.0
        ready = (self.cooldown == 0) & (self.sp[:, None] > 0.2)
        s[:, c["skill1_ready"]:c["skill3_ready"] + 1] = ready
        s[:, c["can_flee"]] = 1.0
        return np.clip(s, 0.0, 1.0)

    def step(self, actions: np.ndarray) -> None:
        """Move the world one tick, applying the answered actions (255: a random walk)."""
        rng = self.rng
        self.heroes = np.clip(self.heroes + rng.normal(0, 0.7, self.heroes.shape), 0, MAP_SIZE)
        nearest = np.linalg.norm(self.pos[:, None, :] - self.heroes[None, :, :], axis=2).argmin(axis=1)
        toward = self.heroes[nearest] - self.pos
        unit = toward / np.maximum(np.linalg.norm(toward, axis=1, keepdims=True), 1e-6)
        move = np.zeros_like(self.pos)
        move[actions == Action.MOVE_CLOSER] = unit[actions == Action.MOVE_CLOSER]
        away = (actions == Action.MOVE_AWAY) | (actions == Action.FLEE)
        move[away] = -unit[away] * 1.5
        wander = (actions == Action.MOVE_RANDOM) | (actions == Action.TRADITIONAL_AI)
        move[wander] = rng.normal(0, 0.5, (int(wander.sum()), 2))
        self.pos = np.clip(self.pos + move, 0, MAP_SIZE)
        fighting = (actions == Action.ATTACK) | ((actions >= Action.SKILL_1) & (actions <= Action.SKILL_3))
        self.combat_ticks = np.where(fighting, self.combat_ticks + 1, np.maximum(0, self.combat_ticks - 1))
        self.hp = np.clip(self.hp - fighting * rng.uniform(0, 0.02, self.n) + 0.002, 0, 1)
        skill = (actions >= Action.SKILL_1) & (actions <= Action.SKILL_3)
        self.sp = np.clip(self.sp - skill * 0.05 + 0.003, 0, 1)
        used = np.where(skill, actions - Action.SKILL_1, -1)
        self.cooldown = np.maximum(0, self.cooldown - 0.05)
        for slot in range(3):
            self.cooldown[used == slot, slot] = 1.0
        dead = self.hp <= 0
        self.hp[dead], self.pos[dead] = 1.0, self.spawn[dead]  # respawn
        self.last_action = np.where(actions == Action.TRADITIONAL_AI, 0.1, np.minimum(actions, 9) / 10)
