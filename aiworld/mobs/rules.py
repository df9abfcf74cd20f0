"""Fallback level 4: rule-based decisions on the documented state indices (aiworld/mobs/state.py).

Vectorised over a batch with numpy. The rules, first match wins:

1. disabled (11) or casting (10)                    -> IDLE (the map server ignores orders anyway)
2. HP (0) < 0.15 and a path away exists (60)        -> FLEE
3. support: an ally's HP (28) < 0.5, skill 2 ready  -> SKILL_2 (heal)
4. no enemy within view (30) and no target (41)     -> IDLE
5. no target but enemies within view                -> CHANGE_TARGET
6. mage/ranged with the target closer than 2 cells  -> MOVE_AWAY (kite), if it can move (55)
7. target in attack range (39): skill 1 ready (57) and SP (1) >= 0.3 -> SKILL_1, else ATTACK
8. tank with threat (32) > 0.6 and skill 3 ready    -> SKILL_3 (provoke), checked before 7
9. otherwise, if it can move                        -> MOVE_CLOSER, else IDLE
"""

from __future__ import annotations

import numpy as np

from aiworld.mobs.state import ARCHETYPES, INDEX, Action

_KITERS = {ARCHETYPES.index("mage"), ARCHETYPES.index("ranged")}
_SUPPORT = ARCHETYPES.index("support")
_TANK = ARCHETYPES.index("tank")
TWO_CELLS = 2 / 14


def decide(states: np.ndarray, archetype_ids: np.ndarray) -> np.ndarray:
    """Actions (int16) for states float32[n, 64] of monsters with archetype indices int[n]."""
    s = states
    col = INDEX
    can_move = s[:, col["mode_can_move"]] >= 0.5
    actions = np.where(can_move, Action.MOVE_CLOSER, Action.IDLE).astype(np.int16)

    in_range = s[:, col["target_in_range"]] >= 0.5
    skill1 = (s[:, col["skill1_ready"]] >= 0.5) & (s[:, col["sp_ratio"]] >= 0.3)
    actions = np.where(in_range, np.where(skill1, Action.SKILL_1, Action.ATTACK), actions)

    tank = archetype_ids == _TANK
    provoke = tank & (s[:, col["threat"]] > 0.6) & (s[:, col["skill3_ready"]] >= 0.5)
    actions = np.where(provoke, Action.SKILL_3, actions)

    kiter = np.isin(archetype_ids, list(_KITERS))
    too_close = kiter & can_move & (s[:, col["has_target"]] >= 0.5) & (s[:, col["target_distance"]] < TWO_CELLS)
    actions = np.where(too_close, Action.MOVE_AWAY, actions)

    no_target = s[:, col["has_target"]] < 0.5
    enemies = s[:, col["enemy_count"]] > 0
    actions = np.where(no_target & enemies, Action.CHANGE_TARGET, actions)
    actions = np.where(no_target & ~enemies, Action.IDLE, actions)

    heal = (archetype_ids == _SUPPORT) & (s[:, col["ally_lowest_hp"]] < 0.5) & (s[:, col["skill2_ready"]] >= 0.5)
    actions = np.where(heal, Action.SKILL_2, actions)

    flee = (s[:, col["hp_ratio"]] < 0.15) & (s[:, col["can_flee"]] >= 0.5)
    actions = np.where(flee, Action.FLEE, actions)

    busy = (s[:, col["is_disabled"]] >= 0.5) | (s[:, col["is_casting"]] >= 0.5)
    return np.where(busy, Action.IDLE, actions).astype(np.int16)
