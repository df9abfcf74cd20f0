"""A small starting world for `make run`: factions, NPCs with distinct personalities, items,
markets with prices, economic agents, a production chain and a trade route, so a GM sees the NPC
side working on a fresh install. Idempotent (keys: names and game ids); a GM's edits are kept."""

from __future__ import annotations

from django.db import transaction

from aiworld.models import NPC, EconomicAgent, Faction, Item, Market, Price, ProductionChain, TradeRoute

FACTIONS = [("Kingdom of Rune-Midgarts", "kingdom", "prontera"), ("Merchant Guild", "merchant", "alberta"),
            ("Church of Odin", "religious", "prontera"), ("Thieves' Guild", "criminal", "morocc")]
NPCS = [
    dict(game_id=10001, name="Hilda", job_class="blacksmith", map="prontera", x=160, y=190, extraversion=0.8,
         agreeableness=0.7, conscientiousness=0.8, altruism=0.6, lawful=0.6, honest=0.7, mood="happy",
         backstory="Forged blades for the royal guard for twenty years.", faction="Kingdom of Rune-Midgarts"),
    dict(game_id=10002, name="Varg", job_class="guard", map="prontera", x=156, y=28, extraversion=0.3,
         agreeableness=0.3, conscientiousness=0.9, altruism=0.0, lawful=0.9, honest=0.5, mood="suspicious",
         backstory="Keeps the south gate and trusts nobody.", faction="Kingdom of Rune-Midgarts"),
    dict(game_id=10003, name="Pip", job_class="merchant", map="payon", x=180, y=100, extraversion=0.9,
         agreeableness=0.6, altruism=-0.2, lawful=-0.1, honest=-0.3, mood="excited",
         quirks=["calls everyone 'friend'"], backstory="Sells anything to anyone, at a price.",
         faction="Merchant Guild"),
    dict(game_id=10004, name="Old Mara", job_class="herbalist", map="payon", x=120, y=140, extraversion=0.2,
         agreeableness=0.8, openness=0.8, altruism=0.8, lawful=0.0, honest=0.9, mood="content",
         backstory="Knows every herb of the Payon forest.", faction="Church of Odin"),
    dict(game_id=10005, name="Silk", job_class="thief", map="morocc", x=150, y=100, extraversion=0.5,
         agreeableness=0.2, neuroticism=0.7, altruism=-0.6, lawful=-0.8, honest=-0.7, mood="neutral",
         backstory="Runs errands nobody asks about.", faction="Thieves' Guild"),
]
ITEMS = [(501, "Red Potion", 50), (502, "Orange Potion", 200), (503, "Yellow Potion", 550), (505, "Blue Potion", 5000),
         (601, "Fly Wing", 60), (602, "Butterfly Wing", 300), (909, "Jellopy", 6), (1010, "Phracon", 200),
         (1011, "Emveretarcon", 1000), (984, "Oridecon", 5000), (1002, "Iron Ore", 100), (998, "Iron", 200),
         (1750, "Arrow", 1), (512, "Apple", 15), (517, "Meat", 50)]
MARKETS = ["prontera", "payon", "morocc", "alberta"]


@transaction.atomic
def seed() -> dict[str, int]:
    created: dict[str, int] = {}

    def count(kind: str, was_created: bool) -> None:
        created[kind] = created.get(kind, 0) + int(was_created)

    factions = {}
    for name, kind, home in FACTIONS:
        factions[name], new = Faction.objects.get_or_create(name=name, defaults={"kind": kind, "home_map": home})
        count("factions", new)
    for spec in NPCS:
        spec = dict(spec)
        faction = factions[spec.pop("faction")]
        _, new = NPC.objects.get_or_create(game_id=spec["game_id"], defaults=spec | {"faction": faction})
        count("npcs", new)
    items = {}
    for item_id, name, price in ITEMS:
        items[item_id], new = Item.objects.get_or_create(item_id=item_id, defaults={"name": name, "base_price": price})
        count("items", new)
    markets = {}
    for map_name in MARKETS:
        markets[map_name], new = Market.objects.get_or_create(map=map_name)
        count("markets", new)
        for item in items.values():
            _, new = Price.objects.get_or_create(market=markets[map_name], item=item,
                                                 defaults={"price": item.base_price})
            count("prices", new)
    for name, kind, market in [("Pip's stall", "merchant", "payon"), ("Hilda's forge", "craftsman", "prontera"),
                               ("Prontera households", "consumer", "prontera"), ("Alberta Trading Co.", "investor",
                                                                                  "alberta")]:
        _, new = EconomicAgent.objects.get_or_create(name=name, defaults={"kind": kind, "market": markets[market]})
        count("economic_agents", new)
    _, new = ProductionChain.objects.get_or_create(name="Smelt iron", defaults={
        "inputs": {"1002": 1, "1010": 1}, "output": items[998], "output_units": 1, "minutes": 30})
    count("production_chains", new)
    _, new = TradeRoute.objects.get_or_create(origin=markets["alberta"], destination=markets["prontera"],
                                              item=items[501], defaults={"risk": 0.05})
    count("trade_routes", new)
    return created
