"""The monster state vector (float32[64], every value in [0, 1]) and the action ids.

This table is the contract with the map server (docs/protocol.md renders it) and with the arena's
encoder: both produce exactly this layout, only from what the map server can see. Groups follow the
seed: self 0-11, environment 12-21, social 22-29, tactical 30-41, temporal 42-51, goals 52-63.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

STATE_SIZE = 64
HISTORY_LENGTH = 10  # states kept per monster in L1 working memory (temporal models read them)
VIEW_RANGE_CELLS = 14  # rAthena's default view range: distances are divided by it
MAX_COUNT = 10  # counts (enemies, allies) are divided by it and clipped to 1

ARCHETYPES = ("aggressive", "defensive", "support", "mage", "tank", "ranged")


class Action(IntEnum):
    IDLE = 0
    ATTACK = 1
    MOVE_CLOSER = 2
    MOVE_AWAY = 3
    MOVE_RANDOM = 4
    SKILL_1 = 5
    SKILL_2 = 6
    SKILL_3 = 7
    CHANGE_TARGET = 8
    FLEE = 9
    TRADITIONAL_AI = 255  # the map server runs its own mob AI for this monster


MODEL_ACTIONS = 10  # models output one score per action 0..9
# ... and may output an 11th: "hand this monster to the map server's own AI" (action 255)
TRADITIONAL_OUTPUT = 10
MODEL_OUTPUTS = 11


def output_actions(indices: np.ndarray) -> np.ndarray:
    """Action ids of model output indices (int16 array): 0..9 are the actions, TRADITIONAL_OUTPUT is 255."""
    indices = np.asarray(indices)
    return np.where(indices == TRADITIONAL_OUTPUT, int(Action.TRADITIONAL_AI), indices).astype(np.int16)

# (index, name, group, meaning) for every index. Ratios are 0..1; flags are 0 or 1.
LAYOUT: tuple[tuple[int, str, str, str], ...] = (
    (0, "hp_ratio", "self", "HP / max HP"),
    (1, "sp_ratio", "self", "SP / max SP"),
    (2, "level", "self", "base level / 200"),
    (3, "atk", "self", "ATK / 2000"),
    (4, "def", "self", "DEF / 200"),
    (5, "matk", "self", "MATK / 2000"),
    (6, "mdef", "self", "MDEF / 200"),
    (7, "move_speed", "self", "1 - walk delay (ms) / 1000: faster is higher"),
    (8, "attack_range", "self", "attack range (cells) / 14"),
    (9, "attack_delay", "self", "attack delay (ms) / 4000"),
    (10, "is_casting", "self", "flag: casting a skill"),
    (11, "is_disabled", "self", "flag: stunned, frozen, asleep or stone"),
    (12, "pos_x", "environment", "x / map width"),
    (13, "pos_y", "environment", "y / map height"),
    (14, "blocked_north", "environment", "flag: the cell north is not walkable"),
    (15, "blocked_east", "environment", "flag: the cell east is not walkable"),
    (16, "blocked_south", "environment", "flag: the cell south is not walkable"),
    (17, "blocked_west", "environment", "flag: the cell west is not walkable"),
    (18, "target_in_sight", "environment", "flag: line of sight to the target"),
    (19, "spawn_distance", "environment", "distance to spawn point / 14, clipped"),
    (20, "on_hazard", "environment", "flag: standing in a damaging area"),
    (21, "open_space", "environment", "walkable fraction of the 5x5 cells around"),
    (22, "allies_nearby", "social", "allies within view / 10, clipped"),
    (23, "allies_avg_hp", "social", "mean HP ratio of allies within view (1 if none)"),
    (24, "is_leader", "social", "flag: pack leader"),
    (25, "pack_size", "social", "pack members alive / 10, clipped"),
    (26, "leader_distance", "social", "distance to the pack leader / 14, clipped (0 if leader)"),
    (27, "allies_in_combat", "social", "allies within view that are fighting / 10, clipped"),
    (28, "ally_lowest_hp", "social", "lowest HP ratio among allies within view (1 if none)"),
    (29, "ally_healer_near", "social", "flag: an ally with a heal skill is within view"),
    (30, "enemy_count", "tactical", "enemies within view / 10, clipped"),
    (31, "target_distance", "tactical", "distance to the target / 14, clipped (1 if no target)"),
    (32, "threat", "tactical", "threat to this monster: damage taken in the last 5 s / max HP, clipped"),
    (33, "target_hp", "tactical", "target HP ratio (0 if no target)"),
    (34, "target_casting", "tactical", "flag: the target is casting"),
    (35, "target_melee", "tactical", "flag: the target fights in melee"),
    (36, "target_ranged", "tactical", "flag: the target is a ranged attacker"),
    (37, "target_mage", "tactical", "flag: the target is a spellcaster"),
    (38, "target_support", "tactical", "flag: the target heals or buffs"),
    (39, "target_in_range", "tactical", "flag: the target is within attack range"),
    (40, "nearest_enemy_distance", "tactical", "distance to the nearest enemy / 14, clipped (1 if none)"),
    (41, "has_target", "tactical", "flag: the monster has a target"),
    (42, "since_attack", "temporal", "time since own last attack / 5 s, clipped"),
    (43, "since_damaged", "temporal", "time since last damage taken / 5 s, clipped"),
    (44, "skill1_cooldown", "temporal", "remaining cooldown of skill 1 / its cooldown (0 = ready)"),
    (45, "skill2_cooldown", "temporal", "remaining cooldown of skill 2 / its cooldown"),
    (46, "skill3_cooldown", "temporal", "remaining cooldown of skill 3 / its cooldown"),
    (47, "hp_trend", "temporal", "0.5 + (HP ratio change over the last 2 s) / 2"),
    (48, "target_hp_trend", "temporal", "0.5 + (target HP ratio change over the last 2 s) / 2"),
    (49, "combat_time", "temporal", "time in combat / 60 s, clipped"),
    (50, "last_action", "temporal", "last action id / 10 (TRADITIONAL_AI counts as 1)"),
    (51, "since_target_change", "temporal", "time since the target changed / 10 s, clipped"),
    (52, "mode_aggressive", "goals", "flag: rAthena mode AGGRESSIVE"),
    (53, "mode_assist", "goals", "flag: rAthena mode ASSIST"),
    (54, "mode_cast_sensor", "goals", "flag: rAthena mode CASTSENSOR"),
    (55, "mode_can_move", "goals", "flag: rAthena mode CANMOVE"),
    (56, "is_boss", "goals", "flag: MVP or boss"),
    (57, "skill1_ready", "goals", "flag: skill 1 off cooldown and SP enough"),
    (58, "skill2_ready", "goals", "flag: skill 2 off cooldown and SP enough"),
    (59, "skill3_ready", "goals", "flag: skill 3 off cooldown and SP enough"),
    (60, "can_flee", "goals", "flag: a walkable path away from the nearest enemy exists"),
    (61, "guard_post", "goals", "flag: ordered to hold a position (guardian, slave of a boss)"),
    (62, "protect_leader", "goals", "flag: the leader is being attacked"),
    (63, "reserved", "goals", "0: reserved for a later layout version"),
)

INDEX = {name: index for index, name, _, _ in LAYOUT}
assert [row[0] for row in LAYOUT] == list(range(STATE_SIZE))


def layout_markdown() -> str:
    """The state table as docs/protocol.md shows it (a test keeps the two equal)."""
    lines = ["| index | name | group | value |", "|---|---|---|---|"]
    lines += [f"| {index} | `{name}` | {group} | {meaning} |" for index, name, group, meaning in LAYOUT]
    return "\n".join(lines)


if __name__ == "__main__":
    print(layout_markdown())
