"""The game things a player line talks about: items, monsters, maps, town services and NPCs.

The semantic cache uses them as a guard. Sentence embeddings put "where is the inn?" close to
"where is the church?" (same words around a different place); a reply about one must never answer
the other. So a semantic hit also needs the same set of mentioned things. The vocabulary is what
the game itself knows (the item table, the monster and map tables, the NPCs), not a word list
tuned to any chat corpus.
"""

from __future__ import annotations

import re
import threading
import time

from aiworld.npc.reply_cache import canonical

# What every rAthena town has (the services players ask the way to).
TOWN_SERVICES = (
    "inn", "church", "kafra", "tool dealer", "tool shop", "weapon shop", "weapon dealer", "armor shop",
    "armor dealer", "blacksmith", "smithy", "forge", "guild hall", "guild", "castle", "palace", "gate", "field",
    "dungeon", "harbor", "harbour", "port", "dock", "alchemist", "pet groomer", "bank", "stable", "library",
    "market", "fountain", "tavern", "pub", "refinery", "refiner", "job changer", "warper", "airship", "arena",
    "well", "temple", "school", "academy", "graveyard", "cemetery", "sewers", "tower", "lighthouse", "mine",
)
COMPASS = ("north", "south", "east", "west")
# Well-known monsters outside the maps table of aiworld.agents.geography.
EXTRA_MONSTERS = ("orc warrior", "orc", "goblin", "kobold", "wolf", "hornet", "condor", "spore", "willow",
                  "thief bug", "savage", "elder willow", "munak", "sohee", "isis", "deviruchi", "ghostring",
                  "angeling", "deviling", "mastering", "eclipse", "vagabond wolf", "toad", "dokebi")
_TTL_S = 60.0
_lock = threading.Lock()
_cache: tuple[float, re.Pattern[str]] | None = None


def _names() -> set[str]:
    from aiworld.agents import geography
    from aiworld.models import NPC, Item, Market

    names = {canonical(n) for n in Item.objects.values_list("name", flat=True)}
    names |= {canonical(n) for n in NPC.objects.filter(active=True).values_list("name", flat=True)}
    names |= {canonical(m) for m in Market.objects.values_list("map", flat=True)}
    for map_name, info in geography.MAPS.items():
        names.add(canonical(map_name))
        names |= {canonical(name) for _, name in info.mobs}
    names |= {canonical(name) for _, name, _ in geography.BOSSES}
    names |= set(EXTRA_MONSTERS) | set(TOWN_SERVICES)
    names |= {f"{c} {p}" for c in COMPASS for p in ("gate", "field", "exit", "road", "district")}
    return {n for n in names if n}


def _pattern() -> re.Pattern[str]:
    """One alternation, longest names first, so "orc warrior" wins over "orc"; a plural s or es is fine."""
    global _cache
    now = time.monotonic()
    with _lock:
        if _cache is None or now - _cache[0] > _TTL_S:
            names = sorted(_names(), key=len, reverse=True)
            alternation = "|".join(re.escape(n) for n in names)
            _cache = (now, re.compile(rf"(?<![\w'])({alternation})(?:e?s)?(?![\w'])"))
        return _cache[1]


def mentions(text: str) -> frozenset[str]:
    """The known things a line mentions, by canonical name."""
    return frozenset(match.group(1) for match in _pattern().finditer(canonical(text)))


def forget() -> None:
    """Drop the cached vocabulary (tests; the admin's changes otherwise arrive within a minute)."""
    global _cache
    with _lock:
        _cache = None
