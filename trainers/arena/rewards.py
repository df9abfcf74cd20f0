"""Per-archetype rewards: an individual part by what the archetype is for, plus a shared team part.

Per monster and tick, reward = sum over terms of WEIGHTS[archetype][term] * term, the terms being
(damage in units of one adventurer's mean max HP, heals in units of the healed ally's max HP):
- dealt: damage this monster dealt (attacks, skills, its lingering areas);
- magic: of that, magic or area damage;
- far: of that, damage dealt while no enemy was within 2 cells (keeping distance);
- taken: damage taken / own max HP (weights are negative);
- prevented: damage its DEF buffs (guard, shield) kept off it / own max HP;
- healed: HP it restored to pack members (itself included) / the pack's mean max HP;
- buffs: pack members it buffed (a buff that was already running on another counts too);
- control: stuns, slows, DEF debuffs and provokes it landed on adventurers;
- aggro: adventurers targeting it (per tick; the tank draws them away from the others);
- died: 1 on the tick it dies;
- team: the change of the encounter score (party_damage + pack_hp) this tick, the same for every living
  member of the pack;
- outcome: +1 to every member (dead ones too) when the pack wins, -1 when it loses, on the final tick.
Nothing pays for moving or idling by itself: a FLEE at full HP with nothing else happening is worth 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from aiworld.mobs.state import ARCHETYPES

if TYPE_CHECKING:
    from trainers.arena.core import VecArena

TERMS = ("dealt", "magic", "far", "taken", "prevented", "healed", "buffs", "control", "aggro", "died", "team",
         "outcome")

WEIGHTS: dict[str, dict[str, float]] = {
    "aggressive": {"dealt": 1.0, "magic": 0.0, "far": 0.0, "taken": -0.3, "prevented": 0.0, "healed": 0.0,
                   "buffs": 0.02, "control": 0.05, "aggro": 0.0, "died": -1.0, "team": 2.0, "outcome": 1.0},
    "defensive": {"dealt": 0.4, "magic": 0.0, "far": 0.0, "taken": -0.8, "prevented": 1.5, "healed": 0.5,
                  "buffs": 0.02, "control": 0.08, "aggro": 0.0, "died": -1.5, "team": 2.0, "outcome": 1.0},
    "support": {"dealt": 0.2, "magic": 0.0, "far": 0.0, "taken": -0.5, "prevented": 0.0, "healed": 2.0,
                "buffs": 0.05, "control": 0.05, "aggro": 0.0, "died": -1.0, "team": 2.0, "outcome": 1.0},
    "mage": {"dealt": 0.5, "magic": 0.8, "far": 0.2, "taken": -0.5, "prevented": 0.0, "healed": 0.0,
             "buffs": 0.02, "control": 0.05, "aggro": 0.0, "died": -1.0, "team": 2.0, "outcome": 1.0},
    "tank": {"dealt": 0.3, "magic": 0.0, "far": 0.0, "taken": -0.1, "prevented": 1.0, "healed": 0.0,
             "buffs": 0.02, "control": 0.08, "aggro": 0.01, "died": -1.0, "team": 2.0, "outcome": 1.0},
    "ranged": {"dealt": 0.6, "magic": 0.0, "far": 0.6, "taken": -0.5, "prevented": 0.0, "healed": 0.0,
               "buffs": 0.02, "control": 0.05, "aggro": 0.0, "died": -1.0, "team": 2.0, "outcome": 1.0},
}
# [archetype, term]
WEIGHT_TABLE = np.array([[WEIGHTS[a][t] for t in TERMS] for a in ARCHETYPES], np.float32)


def terms(A: VecArena, events: dict[str, np.ndarray], team_delta: np.ndarray, outcome: np.ndarray,
          aggro: np.ndarray) -> np.ndarray:
    """float32[E, M, len(TERMS)]: the raw terms of every monster this tick."""
    E, M, U = A.E, A.M, A.U

    def per_monster(name: str) -> np.ndarray:
        return events[name].reshape(E, U)[:, :M]

    party = A.mean_party_hp
    own = A.max_hp[:M]
    alive_before = per_monster("hp_before") > 0
    out = np.zeros((E, M, len(TERMS)), np.float32)
    out[..., 0] = per_monster("dealt") / party
    out[..., 1] = per_monster("dealt_magic") / party
    out[..., 2] = per_monster("dealt_far") / party
    out[..., 3] = per_monster("taken") / own
    out[..., 4] = per_monster("prevented") / own
    out[..., 5] = per_monster("healed") / A.mean_pack_hp
    out[..., 6] = per_monster("buffs")
    out[..., 7] = per_monster("control")
    out[..., 8] = aggro
    out[..., 9] = per_monster("died")
    out[..., 10] = np.where(alive_before, team_delta[:, None], 0)
    out[..., 11] = outcome[:, None]
    return out


def compute(A: VecArena, events: dict[str, np.ndarray], team_delta: np.ndarray, outcome: np.ndarray,
            done: np.ndarray, aggro: np.ndarray) -> np.ndarray:
    """float32[E, M]: each monster's reward this tick (its archetype's weights)."""
    raw = terms(A, events, team_delta, outcome, aggro)
    weights = WEIGHT_TABLE[A.kind[:A.M]]  # [M, T]
    return (raw * weights[None]).sum(axis=2).astype(np.float32)
