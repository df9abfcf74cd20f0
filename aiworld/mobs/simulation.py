"""Plausible monster states without the arena: a load generator with realistic-looking inputs, not a game.

One seeded numpy world per map: a grid with walls and a few damaging areas, M monsters of the six
archetypes (some in packs with a leader, one boss on larger maps, a few guards and immobile ones),
and a few adventurers (melee, ranged, mage, support) who walk about, pick a monster, hit it and
die and come back. Each tick `states()` encodes what a map server could see, with every index
meaning what aiworld/mobs/state.py LAYOUT says (values in [0, 1], flags exactly 0 or 1), and
`step(actions)` applies the answered actions crudely: MOVE_CLOSER / MOVE_AWAY / FLEE move, ATTACK
and skills hurt the target when in range and spend SP and cooldowns, CHANGE_TARGET picks another
adventurer, 255 (the map server's own AI) chases and attacks. So states evolve tick to tick and
the decisions matter, but nothing here is balanced or faithful to rAthena: the arena of the
training issue does that. Deterministic for a seed; vectorised, a few ms per tick for 4,096 monsters.
"""

from __future__ import annotations

import numpy as np

from aiworld.mobs.state import ARCHETYPES, INDEX, MAX_COUNT, STATE_SIZE, VIEW_RANGE_CELLS, Action

VIEW = float(VIEW_RANGE_CELLS)
GRID = 6  # cells per bucket for the "allies within view" aggregates: 5 x 5 buckets ~ the view range
MAX_ADVENTURERS = 64
A = {name: i for i, name in enumerate(ARCHETYPES)}
MELEE, RANGED, MAGE, SUPPORT = range(4)  # adventurer roles
HERO_RANGE = np.array([1.5, 9.0, 9.0, 7.0])
SKILL_SP = np.array([0.10, 0.15, 0.25])  # SP cost of skills 1..3 (ratio of max SP)

# Per archetype: level, atk, def, matk, mdef, move_speed, attack range (cells), attack delay (ms)
_STATS = {
    "aggressive": (0.30, 0.20, 0.15, 0.05, 0.10, 0.80, 1.5, 1200),
    "defensive": (0.25, 0.10, 0.35, 0.05, 0.30, 0.70, 1.5, 1600),
    "support": (0.28, 0.06, 0.15, 0.15, 0.40, 0.75, 7.0, 2000),
    "mage": (0.32, 0.05, 0.10, 0.30, 0.45, 0.72, 9.0, 2200),
    "tank": (0.35, 0.15, 0.60, 0.03, 0.25, 0.60, 1.5, 1800),
    "ranged": (0.30, 0.18, 0.12, 0.05, 0.15, 0.78, 9.0, 1400),
}


def _box_mean(grid: np.ndarray, radius: int, pad_value: float) -> np.ndarray:
    """Mean of each (2r+1)^2 window of a 2-D array, cells outside counting as pad_value."""
    size = 2 * radius + 1
    padded = np.pad(grid.astype(np.float64), radius, constant_values=pad_value)
    c = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return (c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]) / size**2


class MapSimulation:
    """M monsters of one map. `states()` -> float32[M, 64]; `step(actions)` advances one tick."""

    def __init__(self, monsters: int, seed: int = 0, adventurers: int | None = None, tick_s: float = 0.1):
        if monsters < 1:
            raise ValueError("a map needs at least one monster")
        rng = self.rng = np.random.default_rng(seed)
        n = self.n = monsters
        self.tick_s = tick_s
        self.tick = 0
        self.width = self.height = int(np.clip(16 * np.sqrt(n), 48, 512))  # rAthena maps are up to ~400
        self._terrain()

        # Who they are: all six archetypes, mixed; class ids stand in for mob_db entries.
        self.archetype_ids = rng.permutation(np.arange(n) % len(ARCHETYPES)).astype(np.int8)
        self.archetypes = [ARCHETYPES[a] for a in self.archetype_ids]
        self.mob_ids = np.arange(n, dtype=np.int64) + 110_000 + seed * 100_000
        self.class_ids = (1001 + 40 * self.archetype_ids.astype(np.int32) + rng.integers(0, 6, n)).astype(np.int32)
        stats = np.array([_STATS[name] for name in self.archetypes])
        jitter = rng.uniform(0.85, 1.15, (n, 6))
        self.level, self.atk, self.def_, self.matk, self.mdef, self.move_speed = np.clip(stats[:, :6] * jitter, 0, 1).T
        self.attack_range = stats[:, 6]
        self.attack_delay_ms = stats[:, 7]
        self.is_boss = np.zeros(n, bool)
        if n >= 30:
            boss = int(np.flatnonzero(self.archetype_ids == A["tank"])[0])
            self.is_boss[boss] = True
            self.level[boss], self.atk[boss], self.def_[boss], self.mdef[boss] = 0.75, 0.6, 0.8, 0.6
        self.can_move = rng.random(n) >= 0.03  # a few plants and statues
        self.guard_post = (rng.random(n) < 0.05) & self.can_move
        self.mode_aggressive = np.isin(self.archetype_ids, [A["aggressive"], A["mage"], A["ranged"]]) | self.is_boss
        self.mode_cast_sensor = (self.archetype_ids == A["mage"]) | self.is_boss
        self.cooldown_len = rng.integers(15, 120, (n, 3)).astype(np.int32)  # ticks
        self._packs()
        self.mode_assist = (self.pack_id >= 0) | np.isin(self.archetype_ids, [A["defensive"], A["support"]])

        # Where they are and how they fare.
        self.pos = self._walkable_points(n)
        for members in self._members.values():  # a pack spawns around its leader
            leader = members[0]
            offsets = rng.normal(0, 2.0, (len(members) - 1, 2))
            self.pos[members[1:]] = self._walk(np.repeat(self.pos[[leader]], len(members) - 1, 0), offsets)
        self.spawn = self.pos.copy()
        self.hp = rng.uniform(0.6, 1.0, n)
        self.sp = rng.uniform(0.5, 1.0, n)
        self.cooldown = np.zeros((n, 3), np.int32)
        self.casting = np.zeros(n, np.int32)  # ticks left
        self.disabled = np.zeros(n, np.int32)
        self.target = np.full(n, -1)
        self.since_target = np.full(n, 1000)
        self.since_attack = np.full(n, 1000)
        self.since_damaged = np.full(n, 1000)
        self.combat_ticks = np.zeros(n, np.int32)
        self.last_action = np.zeros(n)
        self._window5 = max(1, round(5 / tick_s))  # threat: damage over the last 5 s
        self._window2 = max(1, round(2 / tick_s))  # trends: change over the last 2 s
        self._damage = np.zeros((self._window5, n))
        self._threat = np.zeros(n)  # the sum of _damage over the window, kept up to date
        self._hp_history = np.repeat(self.hp[None], self._window2, 0)

        h = adventurers if adventurers is not None else int(np.clip(n // 10, 3, MAX_ADVENTURERS))
        self.h = h
        self.hero_pos = self._walkable_points(h)
        self.hero_role = np.arange(h) % 4
        self.hero_hp = np.ones(h)
        self.hero_heading = rng.normal(0, 1, (h, 2))
        self.hero_cooldown = rng.integers(0, 10, h)
        self.hero_casting = np.zeros(h, np.int32)
        self.hero_target = np.full(h, -1)
        self._distance_tick = -1
        self._hero_hp_history = np.ones((self._window2, h))

    # -- the world ---------------------------------------------------------------------------------
    def _terrain(self) -> None:
        rng, w, h = self.rng, self.width, self.height
        walkable = np.ones((w, h), bool)
        for _ in range(max(2, w * h // 150)):  # walls and rocks, ~8 % of the map
            x, y = rng.integers(0, w), rng.integers(0, h)
            dx, dy = (rng.integers(1, 12), rng.integers(1, 3)) if rng.random() < 0.5 else (rng.integers(1, 3),
                                                                                            rng.integers(1, 12))
            walkable[x:x + dx, y:y + dy] = False
        self.walkable = walkable
        self.hazard = np.zeros((w, h), bool)
        for _ in range(max(1, w * h // 4000)):  # a few damaging areas (fire walls, poison)
            x, y = rng.integers(0, w - 3), rng.integers(0, h - 3)
            self.hazard[x:x + 3, y:y + 3] = True
        self.hazard &= walkable
        self.open_space = _box_mean(walkable, 2, 0.0)
        self._walkable_padded = np.pad(walkable, 1, constant_values=False)

    def _packs(self) -> None:
        """Consecutive runs of 3-6 monsters form packs (about 40 % of monsters); the first leads."""
        rng, n = self.rng, self.n
        self.pack_id = np.full(n, -1)
        self.leader = np.full(n, -1)
        self._members: dict[int, np.ndarray] = {}
        i, pack = 0, 0
        while i < n:
            size = int(rng.integers(3, 7))
            if rng.random() < 0.4 and i + size <= n:
                pack += 1
                members = np.arange(i, i + size)
                self.pack_id[members] = pack
                self.leader[members] = i
                self._members[pack] = members
                i += size
            else:
                i += 1
        self.packs = [int(p) if p >= 0 else None for p in self.pack_id]
        self.is_leader = (self.pack_id >= 0) & (self.leader == np.arange(n))
        sizes = np.zeros(pack + 1)
        for p, members in self._members.items():
            sizes[p] = len(members)
        self.pack_size = np.where(self.pack_id >= 0, sizes[np.maximum(self.pack_id, 0)], 0)

    def _cells(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.clip(pos[:, 0].astype(np.int64), 0, self.width - 1)
        y = np.clip(pos[:, 1].astype(np.int64), 0, self.height - 1)
        return x, y

    def _walkable_points(self, count: int) -> np.ndarray:
        cells = np.argwhere(self.walkable)
        chosen = cells[self.rng.integers(0, len(cells), count)]
        return chosen + self.rng.uniform(0.1, 0.9, (count, 2))

    def _is_walkable(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cells at most one outside the map are fine (they are not walkable)."""
        return self._walkable_padded[x + 1, y + 1]

    def _walk(self, pos: np.ndarray, move: np.ndarray) -> np.ndarray:
        """Move where the cell is walkable; else slide along one axis; else stay."""
        limit = np.array([self.width - 1e-3, self.height - 1e-3])
        out = pos.copy()
        for candidate in (pos + move, pos + move * [1, 0], pos + move * [0, 1]):
            candidate = np.clip(candidate, 0, limit)
            free = self._is_walkable(*self._cells(candidate)) & (out == pos).all(axis=1)
            out[free] = candidate[free]
        return out

    def _distances(self) -> np.ndarray:
        """Monster-to-adventurer distances [n, h], computed once per tick for states() and step()."""
        if self._distance_tick != self.tick:
            dx = self.pos[:, 0, None].astype(np.float32) - self.hero_pos[None, :, 0].astype(np.float32)
            dy = self.pos[:, 1, None].astype(np.float32) - self.hero_pos[None, :, 1].astype(np.float32)
            self._distance, self._distance_tick = np.hypot(dx, dy), self.tick
        return self._distance

    def _allies(self, in_combat: np.ndarray) -> dict[str, np.ndarray]:
        """Aggregates over the other monsters within about the view range (5 x 5 buckets of 6 cells)."""
        bx = (self.pos[:, 0] // GRID).astype(np.int64)
        by = (self.pos[:, 1] // GRID).astype(np.int64)
        shape = (self.width // GRID + 1, self.height // GRID + 1)
        bucket = bx * shape[1] + by
        size = shape[0] * shape[1]
        healer = self.archetype_ids == A["support"]
        own = np.stack([np.ones(self.n), self.hp, in_combat, healer])  # count, HP, fighting, healers
        per_bucket = np.stack([np.bincount(bucket, weights=w, minlength=size) for w in own]).reshape(4, *shape)
        padded = np.pad(per_bucket, ((0, 0), (2, 3), (2, 3)))
        c = padded.cumsum(1).cumsum(2)
        window = (c[:, 5:, 5:] - c[:, :-5, 5:] - c[:, 5:, :-5] + c[:, :-5, :-5])[:, bx, by] - own
        count, hp_sum, fighting, healers = window
        count = np.maximum(np.rint(count), 0)

        # lowest HP among the others: the two lowest per bucket, then the two lowest of 5 x 5 buckets
        lows = np.full((2, size), np.inf)
        order = np.lexsort((self.hp, bucket))
        sorted_buckets = bucket[order]
        first = np.r_[True, sorted_buckets[1:] != sorted_buckets[:-1]]
        lows[0, sorted_buckets[first]] = self.hp[order[first]]
        second = np.r_[False, first[:-1]] & ~first
        lows[1, sorted_buckets[second]] = self.hp[order[second]]
        low1, low2 = lows.reshape(2, *shape)
        for axis in (0, 1):  # separable: 5 buckets along x, then 5 along y
            pad = ((2, 2), (0, 0)) if axis == 0 else ((0, 0), (2, 2))
            p1, p2 = np.pad(low1, pad, constant_values=np.inf), np.pad(low2, pad, constant_values=np.inf)
            low1, low2 = np.full(shape, np.inf), np.full(shape, np.inf)
            for d in range(5):  # merge sorted pairs: the two lowest of (low1, low2, x1, x2)
                x1, x2 = (p1[d:d + shape[0]], p2[d:d + shape[0]]) if axis == 0 else (p1[:, d:d + shape[1]],
                                                                                     p2[:, d:d + shape[1]])
                low1, low2 = np.minimum(low1, x1), np.minimum(np.maximum(low1, x1), np.minimum(low2, x2))
        low1, low2 = low1[bx, by], low2[bx, by]
        lowest = np.where(self.hp <= low1, low2, low1)
        none = count <= 0
        return {"count": count, "avg_hp": np.where(none, 1.0, hp_sum / np.maximum(count, 1)),
                "fighting": np.maximum(np.rint(fighting), 0), "healer": np.rint(healers) > 0,
                "lowest_hp": np.where(none | ~np.isfinite(lowest), 1.0, lowest)}

    # -- what the map server sends -----------------------------------------------------------------
    def states(self) -> np.ndarray:
        n, c, t = self.n, INDEX, self.tick_s
        s = np.zeros((n, STATE_SIZE), np.float32)
        distance = self._distances()
        in_view = distance < VIEW
        nearest = distance.argmin(axis=1)
        near = distance[np.arange(n), nearest]
        has_target = self.target >= 0
        target = np.maximum(self.target, 0)
        target_distance = np.where(has_target, distance[np.arange(n), target], np.inf)
        role = self.hero_role[target]
        x, y = self._cells(self.pos)

        s[:, c["hp_ratio"]] = self.hp
        s[:, c["sp_ratio"]] = self.sp
        s[:, c["level"]] = self.level
        s[:, c["atk"]] = self.atk
        s[:, c["def"]] = self.def_
        s[:, c["matk"]] = self.matk
        s[:, c["mdef"]] = self.mdef
        s[:, c["move_speed"]] = self.move_speed
        s[:, c["attack_range"]] = self.attack_range / VIEW
        s[:, c["attack_delay"]] = self.attack_delay_ms / 4000
        s[:, c["is_casting"]] = self.casting > 0
        s[:, c["is_disabled"]] = self.disabled > 0

        s[:, c["pos_x"]] = self.pos[:, 0] / self.width
        s[:, c["pos_y"]] = self.pos[:, 1] / self.height
        s[:, c["blocked_north"]] = ~self._is_walkable(x, y + 1)
        s[:, c["blocked_east"]] = ~self._is_walkable(x + 1, y)
        s[:, c["blocked_south"]] = ~self._is_walkable(x, y - 1)
        s[:, c["blocked_west"]] = ~self._is_walkable(x - 1, y)
        middle = (self.pos + self.hero_pos[target]) / 2  # line of sight, crudely: the midpoint is open
        s[:, c["target_in_sight"]] = has_target & (target_distance < VIEW) & self._is_walkable(*self._cells(middle))
        s[:, c["spawn_distance"]] = np.linalg.norm(self.pos - self.spawn, axis=1) / VIEW
        s[:, c["on_hazard"]] = self.hazard[x, y]
        s[:, c["open_space"]] = self.open_space[x, y]

        fighting = (self.combat_ticks > 0)
        allies = self._allies(fighting)
        s[:, c["allies_nearby"]] = allies["count"] / MAX_COUNT
        s[:, c["allies_avg_hp"]] = allies["avg_hp"]
        s[:, c["is_leader"]] = self.is_leader
        s[:, c["pack_size"]] = self.pack_size / MAX_COUNT
        in_pack = self.pack_id >= 0
        leader = np.maximum(self.leader, 0)
        s[:, c["leader_distance"]] = np.where(in_pack & ~self.is_leader,
                                              np.linalg.norm(self.pos - self.pos[leader], axis=1) / VIEW, 0)
        s[:, c["allies_in_combat"]] = allies["fighting"] / MAX_COUNT
        s[:, c["ally_lowest_hp"]] = allies["lowest_hp"]
        s[:, c["ally_healer_near"]] = allies["healer"]

        s[:, c["enemy_count"]] = in_view.sum(axis=1) / MAX_COUNT
        s[:, c["target_distance"]] = np.where(has_target, target_distance / VIEW, 1.0)
        s[:, c["threat"]] = self._threat
        s[:, c["target_hp"]] = np.where(has_target, self.hero_hp[target], 0.0)
        s[:, c["target_casting"]] = has_target & (self.hero_casting[target] > 0)
        s[:, c["target_melee"]] = has_target & (role == MELEE)
        s[:, c["target_ranged"]] = has_target & (role == RANGED)
        s[:, c["target_mage"]] = has_target & (role == MAGE)
        s[:, c["target_support"]] = has_target & (role == SUPPORT)
        s[:, c["target_in_range"]] = has_target & (target_distance <= self.attack_range)
        s[:, c["nearest_enemy_distance"]] = np.where(in_view.any(axis=1), near / VIEW, 1.0)
        s[:, c["has_target"]] = has_target

        s[:, c["since_attack"]] = self.since_attack * t / 5
        s[:, c["since_damaged"]] = self.since_damaged * t / 5
        s[:, c["skill1_cooldown"]:c["skill3_cooldown"] + 1] = self.cooldown / self.cooldown_len
        oldest = (self.tick + 1) % self._window2  # the ring's slot written 2 s ago
        s[:, c["hp_trend"]] = 0.5 + (self.hp - self._hp_history[oldest]) / 2
        s[:, c["target_hp_trend"]] = np.where(
            has_target, 0.5 + (self.hero_hp[target] - self._hero_hp_history[oldest][target]) / 2, 0.5)
        s[:, c["combat_time"]] = self.combat_ticks * t / 60
        s[:, c["last_action"]] = self.last_action
        s[:, c["since_target_change"]] = self.since_target * t / 10

        s[:, c["mode_aggressive"]] = self.mode_aggressive
        s[:, c["mode_assist"]] = self.mode_assist
        s[:, c["mode_cast_sensor"]] = self.mode_cast_sensor
        s[:, c["mode_can_move"]] = self.can_move
        s[:, c["is_boss"]] = self.is_boss
        ready = (self.cooldown == 0) & (self.sp[:, None] >= SKILL_SP[None, :])
        s[:, c["skill1_ready"]:c["skill3_ready"] + 1] = ready
        away = self.pos - self.hero_pos[nearest]
        step = np.sign(away).astype(np.int64)
        s[:, c["can_flee"]] = self.can_move & (self._is_walkable(x + step[:, 0], y + step[:, 1])
                                               | self._is_walkable(x + step[:, 0], y)
                                               | self._is_walkable(x, y + step[:, 1]))
        s[:, c["guard_post"]] = self.guard_post
        attacked = self.since_damaged[leader] * t < 2.0
        s[:, c["protect_leader"]] = in_pack & ~self.is_leader & attacked
        return np.clip(s, 0.0, 1.0)

    # -- one tick ----------------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> None:
        """Advance one tick applying the answered actions (action ids per monster; 255 or anything
        unknown: a crude stand-in for rAthena's own AI)."""
        rng, n, t = self.rng, self.n, self.tick_s
        actions = np.asarray(actions).astype(np.int64)
        received = actions.copy()
        distance = self._distances()
        in_view = distance < VIEW
        idx = np.arange(n)
        has_target = self.target >= 0
        in_range = has_target & (distance[idx, np.maximum(self.target, 0)] <= self.attack_range)

        traditional = (actions == Action.TRADITIONAL_AI) | (actions < 0) | (actions > Action.FLEE)
        actions[traditional] = np.select(
            [in_range[traditional], has_target[traditional]], [Action.ATTACK, Action.MOVE_CLOSER], Action.MOVE_RANDOM)
        busy = (self.casting > 0) | (self.disabled > 0)
        actions[busy] = Action.IDLE

        # targets: change on request, lock on when aggressive, drop when far away
        nearest = np.where(in_view.any(axis=1), distance.argmin(axis=1), -1)
        change = actions == Action.CHANGE_TARGET
        if change.any():
            masked = np.where(in_view[change], distance[change], np.inf)
            rows = np.flatnonzero(change)
            current = self.target[change]
            keep = np.flatnonzero(current >= 0)
            masked[keep, current[keep]] = np.inf  # another one than the current target
            other = masked.argmin(axis=1)
            found = np.isfinite(masked[np.arange(len(rows)), other])
            self._set_target(rows[found], other[found])
        acquire = (self.target < 0) & self.mode_aggressive & (nearest >= 0)
        self._set_target(np.flatnonzero(acquire), nearest[acquire])
        lost = (self.target >= 0) & (distance[idx, np.maximum(self.target, 0)] > 1.5 * VIEW)
        self.target[lost] = -1

        # movement: toward or away from the target, else the nearest adventurer in view
        has_target = self.target >= 0
        aim = np.where(has_target, self.target, np.maximum(nearest, 0))
        toward = self.hero_pos[aim] - self.pos
        aim_distance = np.linalg.norm(toward, axis=1)
        unit = toward / np.maximum(aim_distance, 1e-6)[:, None]
        unit[~has_target & (nearest < 0)] = 0
        speed = t * 1000 / np.maximum(1000 * (1 - self.move_speed), 100)  # cells per tick from the walk delay
        move = np.zeros_like(self.pos)
        closer = actions == Action.MOVE_CLOSER
        move[closer] = unit[closer] * np.minimum(speed, np.maximum(aim_distance - 1, 0))[closer, None]
        away = actions == Action.MOVE_AWAY
        move[away] = -unit[away] * speed[away, None]
        flee = actions == Action.FLEE
        move[flee] = -unit[flee] * 1.3 * speed[flee, None]
        wander = actions == Action.MOVE_RANDOM
        move[wander] = rng.normal(0, 0.5, (int(wander.sum()), 2)) * speed[wander, None]
        move[~self.can_move] = 0
        new = self._walk(self.pos, move)
        far = self.guard_post & (np.linalg.norm(new - self.spawn, axis=1) > 3)
        new[far] = self.pos[far]
        self.pos = new
        self._distance_tick = -1  # moved: the adventurers see the new distances

        # monsters hit adventurers
        target = np.maximum(self.target, 0)
        target_distance = np.where(has_target, np.linalg.norm(self.pos - self.hero_pos[target], axis=1), np.inf)
        in_range = has_target & (target_distance <= self.attack_range)
        hero_damage = np.zeros(self.h)
        ready_to_hit = self.since_attack * t * 1000 >= self.attack_delay_ms
        hit = (actions == Action.ATTACK) & in_range & ready_to_hit
        np.add.at(hero_damage, target[hit], 0.02 + 0.1 * self.atk[hit])
        self.since_attack = np.where(hit, 0, self.since_attack + 1)
        skill = np.where((actions >= Action.SKILL_1) & (actions <= Action.SKILL_3), actions - Action.SKILL_1, -1)
        slot = np.maximum(skill, 0)
        usable = (skill >= 0) & (self.cooldown[idx, slot] == 0) & (self.sp >= SKILL_SP[slot])
        self.sp = np.where(usable, self.sp - SKILL_SP[slot], self.sp)
        self.cooldown[idx[usable], slot[usable]] = self.cooldown_len[idx[usable], slot[usable]]
        self.casting[usable] = 3 * (slot[usable] + 1)
        heal = usable & (self.archetype_ids == A["support"]) & (slot == 1)
        self._heal(np.flatnonzero(heal))
        blast = usable & ~heal & in_range
        np.add.at(hero_damage, target[blast], 0.05 + 0.2 * np.maximum(self.matk, self.atk)[blast])

        # adventurers act
        monster_damage = np.zeros(n)
        self._adventurers(monster_damage)
        hazard = self.hazard[self._cells(self.pos)]
        monster_damage += hazard * 0.004
        monster_damage *= 1 - 0.5 * self.def_
        self.hp = np.clip(self.hp - monster_damage, 0, 1)
        damaged = monster_damage > 0
        self.since_damaged = np.where(damaged, 0, self.since_damaged + 1)
        self.hero_hp = np.clip(self.hero_hp - hero_damage, 0, 1)

        # upkeep
        fighting = (self.since_damaged * t < 5) | (self.since_attack * t < 5)
        self.combat_ticks = np.where(fighting, self.combat_ticks + 1, 0)
        self.hp = np.where(fighting, self.hp, np.minimum(1, self.hp + 0.001))
        self.sp = np.minimum(1, self.sp + 0.002)
        self.cooldown = np.maximum(0, self.cooldown - 1)
        self.casting = np.maximum(0, self.casting - 1)
        self.disabled = np.maximum(0, self.disabled - 1)
        stunned = damaged & (rng.random(n) < 0.01)
        self.disabled[stunned] = rng.integers(5, 30, int(stunned.sum()))
        self.since_target += 1
        self.last_action = np.where(received == Action.TRADITIONAL_AI, 0.1, np.clip(received, 0, 9) / 10)

        dead = self.hp <= 0  # respawn at the spawn point
        if dead.any():
            self.pos[dead] = self.spawn[dead]
            self.hp[dead], self.sp[dead] = 1.0, 1.0
            self.target[dead] = -1
            self.cooldown[dead] = self.casting[dead] = self.disabled[dead] = self.combat_ticks[dead] = 0
            self.since_attack[dead] = self.since_damaged[dead] = self.since_target[dead] = 1000
            self._damage[:, dead] = 0
            self._threat[dead] = 0
            self._hp_history[:, dead] = 1.0
        gone = self.hero_hp <= 0
        if gone.any():
            self.hero_pos[gone] = self._walkable_points(int(gone.sum()))
            self.hero_hp[gone] = 1.0
            self._hero_hp_history[:, gone] = 1.0
            self.target[np.isin(self.target, np.flatnonzero(gone))] = -1

        self.tick += 1
        fresh = np.where(dead, 0, monster_damage)
        slot5 = self.tick % self._window5
        self._threat = np.maximum(0, self._threat + fresh - self._damage[slot5])
        self._damage[slot5] = fresh
        slot_now = self.tick % self._window2  # the oldest entry becomes the newest
        self._hp_history[slot_now] = self.hp
        self._hero_hp_history[slot_now] = self.hero_hp

    def _set_target(self, rows: np.ndarray, heroes: np.ndarray) -> None:
        changed = self.target[rows] != heroes
        self.target[rows] = heroes
        self.since_target[rows[changed]] = 0

    def _heal(self, healers: np.ndarray) -> None:
        """A support's heal: its lowest-HP pack member, or itself without a pack."""
        for i in healers.tolist():
            members = self._members.get(int(self.pack_id[i]), np.array([i]))
            weakest = members[np.argmin(self.hp[members])]
            self.hp[weakest] = min(1.0, self.hp[weakest] + 0.25)

    def _adventurers(self, monster_damage: np.ndarray) -> None:
        """Adventurers pick the nearest monster within 20 cells, walk into range, hit it (mages cast
        first, supports heal each other); without a monster near they roam."""
        rng, h = self.rng, self.h
        if h == 0:
            return
        distance = self._distances().T  # [h, n]
        nearest = distance.argmin(axis=1)
        near = distance[np.arange(h), nearest]
        engaged = near < 20
        self.hero_target = np.where(engaged, nearest, -1)
        hero_range = HERO_RANGE[self.hero_role]
        toward = self.pos[nearest] - self.hero_pos
        unit = toward / np.maximum(np.linalg.norm(toward, axis=1, keepdims=True), 1e-6)
        self.hero_heading += rng.normal(0, 0.3, (h, 2))
        self.hero_heading /= np.maximum(np.linalg.norm(self.hero_heading, axis=1, keepdims=True), 1e-6)
        move = np.where(engaged[:, None], unit * np.minimum(0.6, np.maximum(near - hero_range + 0.5, 0))[:, None],
                        self.hero_heading * 0.5)
        moved = self._walk(self.hero_pos, move)
        stuck = (moved == self.hero_pos).all(axis=1) & (np.abs(move).sum(axis=1) > 0)
        self.hero_heading[stuck] *= -1
        self.hero_pos = moved
        self.hero_cooldown = np.maximum(0, self.hero_cooldown - 1)
        self.hero_casting = np.maximum(0, self.hero_casting - 1)
        in_range = engaged & (near <= hero_range)
        start_cast = in_range & (self.hero_role == MAGE) & (self.hero_cooldown == 0) & (self.hero_casting == 0)
        self.hero_casting[start_cast] = 8
        self.hero_cooldown[start_cast] = 20
        strike = in_range & (self.hero_cooldown == 0) & (self.hero_role != SUPPORT) & (self.hero_role != MAGE)
        strike |= in_range & (self.hero_role == MAGE) & (self.hero_casting == 1)
        damage = np.where(self.hero_role == MAGE, 0.25, rng.uniform(0.04, 0.12, h))
        np.add.at(monster_damage, nearest[strike], damage[strike])
        self.hero_cooldown[strike & (self.hero_role != MAGE)] = rng.integers(6, 12, int(
            (strike & (self.hero_role != MAGE)).sum()))
        healers = (self.hero_role == SUPPORT) & (self.hero_cooldown == 0)
        if healers.any():
            weakest = int(np.argmin(self.hero_hp))
            self.hero_hp[weakest] = min(1.0, self.hero_hp[weakest] + 0.1 * int(healers.sum()))
            self.hero_cooldown[healers] = 15
        # a monster hit without a target turns on its attacker
        struck = np.flatnonzero(strike)
        victims = nearest[struck]
        free = self.target[victims] < 0
        self._set_target(victims[free], struck[free])
