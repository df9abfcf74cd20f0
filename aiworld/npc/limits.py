"""Per-player and per-NPC rate limits shared by every worker (fixed windows in the broker's server).

A player who floods an NPC, or a crowd that floods one popular NPC, gets a clear in-persona
"slow down" with a retry time instead of costing LLM calls or starving other players.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from aiworld.services import kv

WINDOW_S = 10


def _limit(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    scope: str = ""          # "player" or "npc" when refused
    retry_after_s: int = 0


# Both windows in one round trip: count the player's line, then the NPC's, and say which is full.
_SCRIPT = """
local player = redis.call('INCR', KEYS[1])
if player == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local npc = redis.call('INCR', KEYS[2])
if npc == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return {player, npc}
"""


def check(server: str, char_id: int, npc_game_id: int) -> Verdict:
    """Count this line against both limits; refuse if either window is full."""
    now = time.time()
    window = int(now) // WINDOW_S
    retry = WINDOW_S - int(now) % WINDOW_S
    per_player = _limit("AIWORLD_DIALOGUE_PER_PLAYER", 8)   # lines per player per window, all NPCs
    per_npc = _limit("AIWORLD_DIALOGUE_PER_NPC", 60)         # lines per NPC per window, all players
    player, npc = kv.client().eval(_SCRIPT, 2, f"rl:player:{server}:{char_id}:{window}",
                                   f"rl:npc:{npc_game_id}:{window}", WINDOW_S + 1)
    if int(player) > per_player:
        return Verdict(False, "player", retry)
    if int(npc) > per_npc:
        return Verdict(False, "npc", retry)
    return Verdict(True)
