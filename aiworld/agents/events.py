"""Agents whose output is a WorldEvent the map server applies: world events, map hazards, treasure,
dynamic bosses, archaeology dig sites, adaptive dungeon tuning and event chains.

Effects are plain JSON the map-server script reads (docs/agents.md lists the keys per kind).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from django.db.models import Max
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field

from aiworld.agents import geography
from aiworld.agents.base import Agent, MapInputs, Strict, Text, clamp, hour_of, map_state, seeded, source
from aiworld.models import Item, Market, PlayerCharacter, Quest, TradeRoute, WorldEvent

ACTIVE = (WorldEvent.Status.PLANNED, WorldEvent.Status.ACTIVE)


def create_event(agent: str, kind: str, title: str, description: str, map_name: str, effects: dict,
                 minutes: int, *, delay_minutes: int = 0, parent: WorldEvent | None = None,
                 after_own: bool = False) -> WorldEvent:
    """A planned WorldEvent; with after_own, it starts when this agent's last event on the map ends
    (one invasion at a time per map, queued rather than dropped)."""
    starts = timezone.now() + timedelta(minutes=delay_minutes)
    if parent is not None:
        starts = max(starts, parent.ends_at + timedelta(minutes=delay_minutes))
    if after_own:
        last_end = WorldEvent.objects.filter(agent=agent, map=map_name, status__in=ACTIVE).aggregate(
            end=Max("ends_at"))["end"]
        if last_end and last_end > starts:
            starts = last_end
    return WorldEvent.objects.create(agent=agent, kind=kind, title=title, description=description, map=map_name,
                                     effects=effects, starts_at=starts, ends_at=starts + timedelta(minutes=minutes),
                                     parent=parent, source=source())


def active_events(map_name: str) -> list[WorldEvent]:
    now = timezone.now()
    return list(WorldEvent.objects.filter(map=map_name, status__in=ACTIVE, ends_at__gt=now).order_by("starts_at"))


def _event_context(inputs: MapInputs) -> dict:
    return {"map": geography.info(inputs.map).__dict__, "state": map_state(inputs.map, inputs.server),
            "active_events": [{"kind": e.kind, "title": e.title} for e in active_events(inputs.map)]}


class ItemStack(Strict):
    item_id: int = Field(ge=1)
    count: int = Field(ge=1, le=100)


def check_items(stacks: list[ItemStack]) -> None:
    wanted = {s.item_id for s in stacks}
    known = set(Item.objects.filter(item_id__in=wanted).values_list("item_id", flat=True))
    if missing := wanted - known:
        raise ValueError(f"unknown item ids {sorted(missing)}")


# -- world event ------------------------------------------------------------------------------------
class EventEffects(Strict):
    exp_rate_pct: int = Field(100, ge=50, le=300)
    drop_rate_pct: int = Field(100, ge=50, le=300)
    price_pct: int = Field(100, ge=50, le=200, description="NPC shop prices on the map")
    mob_ids: list[int] = Field(default_factory=list, max_length=5)
    mob_count: int = Field(0, ge=0, le=200)


EventKind = Literal["invasion", "festival", "merchant_caravan", "plague", "eclipse", "tournament", "monster_surge"]


class WorldEventOutput(Strict):
    kind: EventKind
    title: str = Text(120)
    description: str = Text(500)
    duration_minutes: int = Field(ge=10, le=720)
    effects: EventEffects


def world_event_offline(inputs: MapInputs) -> WorldEventOutput:
    state, info, hour = map_state(inputs.map, inputs.server), geography.info(inputs.map), hour_of(inputs)
    players = int(state.get("players_online", 0))
    rng = seeded("world_event", inputs.map, hour, players)
    mobs = [m for m, _ in info.mobs]
    has_caravan = TradeRoute.objects.filter(destination__map=inputs.map, active=True).exists()
    # Scored rules: a busy map can defend itself (invasion), an empty one is lured (festival)...
    scores = {
        "invasion": 3 if players >= 20 else 0,
        "festival": (3 if players < 5 else 0) + (2 if 18 <= hour <= 22 else 0),
        "merchant_caravan": 2 if has_caravan else 0,
        "tournament": 2 if players >= 10 and 12 <= hour <= 20 else 0,
        "eclipse": 2 if hour < 4 else 0,
        "monster_surge": 1,
    }
    best = max(scores.values())
    kind = rng.choice(sorted(k for k, v in scores.items() if v == best))
    name = inputs.map.capitalize()
    table = {
        "invasion": (f"Siege of {name}", f"Monsters mass at the gates of {name}. Defend the town!",
                     90, EventEffects(exp_rate_pct=150, mob_ids=mobs[:3], mob_count=min(200, 40 + players * 2))),
        "festival": (f"{name} Harvest Festival", f"Music and food fill the streets of {name}. Shops sell cheaper.",
                     180, EventEffects(exp_rate_pct=110, price_pct=85)),
        "merchant_caravan": (f"Caravan arrives in {name}", "A trade caravan sets up stalls with rare goods.",
                             120, EventEffects(price_pct=90)),
        "tournament": (f"{name} Tournament", f"Champions gather in {name} to test their strength.",
                       120, EventEffects(exp_rate_pct=120)),
        "eclipse": ("Dark Eclipse", "The moon swallows the sun; monsters grow bold and drop more loot.",
                    60, EventEffects(drop_rate_pct=150, mob_ids=mobs[:2], mob_count=30)),
        "monster_surge": (f"Monster surge near {name}", f"{info.mobs[0][1]}s swarm the fields around {name}.",
                          60, EventEffects(drop_rate_pct=120, mob_ids=mobs[:1], mob_count=50)),
    }
    title, description, minutes, effects = table[kind]
    return WorldEventOutput(kind=kind, title=title, description=description, duration_minutes=minutes,
                            effects=effects)


def world_event_apply(output: WorldEventOutput, inputs: MapInputs) -> dict:
    event = create_event("world_event", output.kind, output.title, output.description, inputs.map,
                         output.effects.model_dump(), output.duration_minutes, after_own=True)
    return {"world_event": event.pk}


# -- map hazard -------------------------------------------------------------------------------------
HAZARDS = {"desert": ("sandstorm", "quicksand"), "snow": ("blizzard", "thin_ice"), "volcanic": ("lava_flow", "fire"),
           "swamp": ("miasma", "poison_swamp"), "dungeon": ("cave_in", "poison_gas"),
           "temperate": ("rockslide", "wildfire")}
HazardKind = Literal["sandstorm", "quicksand", "blizzard", "thin_ice", "lava_flow", "fire", "miasma", "poison_swamp",
                     "cave_in", "poison_gas", "rockslide", "wildfire"]
STATUS = {"sandstorm": "blind", "quicksand": "slow", "blizzard": "freeze", "thin_ice": "freeze", "lava_flow": "burning",
          "fire": "burning", "miasma": "poison", "poison_swamp": "poison", "cave_in": "none", "poison_gas": "poison",
          "rockslide": "none", "wildfire": "burning"}


class HazardOutput(Strict):
    hazard: HazardKind
    title: str = Text(120)
    description: str = Text(400)
    x: int = Field(ge=0, le=1000)
    y: int = Field(ge=0, le=1000)
    radius: int = Field(ge=1, le=30)
    damage_pct_per_tick: int = Field(ge=1, le=20)
    status_effect: Literal["none", "poison", "freeze", "burning", "slow", "blind"]
    duration_minutes: int = Field(ge=5, le=240)


def hazard_offline(inputs: MapInputs) -> HazardOutput:
    state, info = map_state(inputs.map, inputs.server), geography.info(inputs.map)
    rng = seeded("map_hazard", inputs.map, hour_of(inputs))
    weather = state.get("weather", "clear")
    # bad weather picks the climate's weather-driven hazard and makes it hurt more
    severe = weather in ("storm", "sandstorm", "snow", "heatwave", "rain")
    hazard = HAZARDS[info.climate][0 if severe else rng.randrange(2)]
    size = int(state.get("width", 300)), int(state.get("height", 300))
    damage = int(clamp((8 if severe else 4) + rng.randrange(3), 1, 20))
    return HazardOutput(hazard=hazard, title=f"{hazard.replace('_', ' ').title()} in {inputs.map}",
                        description=f"A {hazard.replace('_', ' ')} threatens travellers"
                                    f"{' as the ' + weather + ' rages' if severe else ''}. Keep clear of the area.",
                        x=rng.randrange(20, max(21, size[0] - 20)), y=rng.randrange(20, max(21, size[1] - 20)),
                        radius=12 if severe else 6, damage_pct_per_tick=damage, status_effect=STATUS[hazard],
                        duration_minutes=45 if severe else 30)


def hazard_apply(output: HazardOutput, inputs: MapInputs) -> dict:
    effects = output.model_dump(include={"hazard", "x", "y", "radius", "damage_pct_per_tick", "status_effect"})
    event = create_event("map_hazard", "hazard", output.title, output.description, inputs.map, effects,
                         output.duration_minutes)
    return {"world_event": event.pk}


# -- treasure ---------------------------------------------------------------------------------------
class TreasureOutput(Strict):
    title: str = Text(120)
    clue: str = Text(300)
    x: int = Field(ge=0, le=1000)
    y: int = Field(ge=0, le=1000)
    items: list[ItemStack] = Field(max_length=5)
    zeny: int = Field(ge=0, le=1_000_000)
    duration_minutes: int = Field(ge=10, le=1440)


def _direction(x: int, y: int, width: int, height: int) -> str:
    ns = "north" if y > height * 0.6 else "south" if y < height * 0.4 else ""
    ew = "east" if x > width * 0.6 else "west" if x < width * 0.4 else ""
    return f"{ns}{ew}" or "centre"


def treasure_offline(inputs: MapInputs) -> TreasureOutput:
    state = map_state(inputs.map, inputs.server)
    players = int(state.get("players_online", 0))
    width, height = int(state.get("width", 300)), int(state.get("height", 300))
    rng = seeded("treasure", inputs.map, hour_of(inputs), players)
    # worth more where more players compete for it: 1000 z + 200 z per player, in items and coins
    budget = 1000 + 200 * players
    pool = list(Item.objects.filter(base_price__lte=budget).order_by("item_id"))
    rng.shuffle(pool)
    stacks, spent = [], 0
    for item in pool[:3]:
        count = max(1, min(10, (budget // 2) // max(1, item.base_price) // 3))
        stacks.append(ItemStack(item_id=item.item_id, count=count))
        spent += count * item.base_price
    x, y = rng.randrange(10, width - 10), rng.randrange(10, height - 10)
    where = _direction(x, y, width, height)
    landmark = rng.choice(("an old oak", "a broken cart", "a mossy stone", "a dry well", "a fallen statue"))
    return TreasureOutput(title=f"Buried treasure of {inputs.map}", clue=f"Seek {landmark} in the {where} of "
                          f"{inputs.map}; dig where its shadow falls at noon.", x=x, y=y, items=stacks,
                          zeny=max(0, budget - spent), duration_minutes=120)


def treasure_apply(output: TreasureOutput, inputs: MapInputs) -> dict:
    check_items(output.items)
    effects = {"x": output.x, "y": output.y, "zeny": output.zeny,
               "items": [[s.item_id, s.count] for s in output.items]}
    event = create_event("treasure", "treasure", output.title, output.clue, inputs.map, effects,
                         output.duration_minutes)
    return {"world_event": event.pk}


# -- dynamic boss -----------------------------------------------------------------------------------
class BossInputs(MapInputs):
    party_size: int = Field(1, ge=1, le=12)
    avg_level: int = Field(50, ge=1, le=255)


class BossOutput(Strict):
    mob_id: int = Field(ge=1001, le=4000)
    title: str = Text(120)
    description: str = Text(400)
    level: int = Field(ge=1, le=255)
    hp_multiplier: float = Field(ge=0.5, le=20)
    minions: int = Field(ge=0, le=20)
    x: int = Field(ge=0, le=1000)
    y: int = Field(ge=0, le=1000)
    rewards: list[ItemStack] = Field(max_length=3)
    duration_minutes: int = Field(ge=10, le=240)


def boss_offline(inputs: BossInputs) -> BossOutput:
    state = map_state(inputs.map, inputs.server)
    rng = seeded("dynamic_boss", inputs.model_dump())
    # the boss nearest the party's level; a bigger party gets more HP and minions rather than a new boss
    mob_id, name, base = min(geography.BOSSES, key=lambda b: (abs(b[2] - inputs.avg_level), b[0]))
    top = list(Item.objects.order_by("-base_price", "item_id")[:3])
    return BossOutput(mob_id=mob_id, title=f"{name} awakens in {inputs.map}",
                      description=f"An enraged {name} roams {inputs.map}, stronger for every hero who hunts it.",
                      level=int(clamp(inputs.avg_level + 5, 1, 255)),
                      hp_multiplier=round(clamp(0.8 * inputs.party_size, 0.5, 20), 2),
                      minions=min(20, 2 * inputs.party_size), x=rng.randrange(30, int(state.get("width", 300)) - 30),
                      y=rng.randrange(30, int(state.get("height", 300)) - 30),
                      rewards=[ItemStack(item_id=i.item_id, count=1) for i in top], duration_minutes=60)


def boss_apply(output: BossOutput, inputs: BossInputs) -> dict:
    check_items(output.rewards)
    effects = output.model_dump(include={"mob_id", "level", "hp_multiplier", "minions", "x", "y"})
    effects["rewards"] = [[s.item_id, s.count] for s in output.rewards]
    event = create_event("dynamic_boss", "boss", output.title, output.description, inputs.map, effects,
                         output.duration_minutes, after_own=True)
    return {"world_event": event.pk}


# -- archaeology ------------------------------------------------------------------------------------
class ArchaeologyInputs(MapInputs):
    player_id: int | None = Field(None, description="PlayerCharacter pk: who found the site (gets the quest)")


ERAS = {"desert": "the Satan Morroc war", "snow": "the Frost Age", "volcanic": "the Schwarzwald forges",
        "swamp": "the fall of Glast Heim", "dungeon": "the first kingdom of Juno",
        "temperate": "the founding of Rune-Midgarts"}


TOOLS = {"volcanic": "pickaxe", "dungeon": "pickaxe", "desert": "brush"}


class Spot(Strict):
    x: int = Field(ge=0, le=1000)
    y: int = Field(ge=0, le=1000)


class ArchaeologyOutput(Strict):
    site_name: str = Text(80)
    era: str = Text(80)
    lore: str = Text(400)
    artifact_item_id: int | None = Field(None, ge=1)
    dig_spots: list[Spot] = Field(min_length=1, max_length=5)
    tool: Literal["shovel", "brush", "pickaxe"]
    duration_minutes: int = Field(ge=30, le=2880)


def archaeology_offline(inputs: ArchaeologyInputs) -> ArchaeologyOutput:
    info = geography.info(inputs.map)
    rng = seeded("archaeology", inputs.model_dump())
    era = ERAS[info.climate]
    artifact = Item.objects.order_by("-base_price", "item_id").first()
    noun = rng.choice(("Ruins", "Tomb", "Shrine", "Vault", "Camp"))
    return ArchaeologyOutput(
        site_name=f"{noun} of {inputs.map.split('_')[0].capitalize()}", era=era,
        lore=f"Scholars say this {noun.lower()} dates from {era}. Those who dig with care may recover what "
             f"{info.region}'s ancestors left behind.",
        artifact_item_id=artifact.item_id if artifact else None,
        dig_spots=[Spot(x=rng.randrange(20, 280), y=rng.randrange(20, 280)) for _ in range(3)],
        tool=TOOLS.get(info.climate, "shovel"),
        duration_minutes=720)


def archaeology_apply(output: ArchaeologyOutput, inputs: ArchaeologyInputs) -> dict:
    if output.artifact_item_id is not None:
        check_items([ItemStack(item_id=output.artifact_item_id, count=1)])
    effects = {"spots": [[s.x, s.y] for s in output.dig_spots], "tool": output.tool,
               "artifact": output.artifact_item_id, "era": output.era}
    event = create_event("archaeology", "dig_site", output.site_name, output.lore, inputs.map, effects,
                         output.duration_minutes)
    applied = {"world_event": event.pk}
    if inputs.player_id is not None:
        player = PlayerCharacter.objects.get(pk=inputs.player_id)
        quest = Quest.objects.create(
            player=player, title=f"Excavate the {output.site_name}"[:120], description=output.lore, kind="investigate",
            difficulty="normal", trigger="location",
            objectives=[{"kind": "explore", "map": inputs.map, "x": s.x, "y": s.y} for s in output.dig_spots],
            progress={"counts": [0] * len(output.dig_spots), "seen": []},
            rewards={"exp": 5000, "items": [[output.artifact_item_id, 1]] if output.artifact_item_id else []},
            source=source(), expires_at=event.ends_at)
        applied["quest"] = quest.pk
    return applied


# -- adaptive dungeon -------------------------------------------------------------------------------
class DungeonInputs(MapInputs):
    party_size: int = Field(ge=1, le=12)
    avg_level: int = Field(ge=1, le=255)
    deaths: int = Field(0, ge=0, le=1000)
    clear_time_s: int = Field(ge=1, le=86_400, description="how long the last run took")
    target_time_s: int = Field(900, ge=60, le=86_400)


class DungeonOutput(Strict):
    difficulty_pct: int = Field(ge=50, le=200)
    mob_level_offset: int = Field(ge=-10, le=10)
    extra_spawns: int = Field(ge=0, le=30)
    trap_density: Literal["low", "normal", "high"]
    description: str = Text(300)


def _last_tuning(map_name: str) -> dict:
    event = WorldEvent.objects.filter(agent="adaptive_dungeon", map=map_name).order_by("-created_at").first()
    return dict(event.effects) if event else {}


def dungeon_offline(inputs: DungeonInputs) -> DungeonOutput:
    previous = _last_tuning(inputs.map)
    pct = int(previous.get("difficulty_pct", 100))
    pace = inputs.target_time_s / inputs.clear_time_s      # > 1: they cleared it faster than intended
    deaths_per_member = inputs.deaths / inputs.party_size
    # nudge, not jump: at most 15 points per run, easier when they die, harder when they breeze through
    if deaths_per_member >= 1:
        step = -15
    elif deaths_per_member >= 0.5 or pace < 0.7:
        step = -8
    elif pace > 1.5 and inputs.deaths == 0:
        step = 15
    elif pace > 1.1:
        step = 8
    else:
        step = 0
    pct = int(clamp(pct + step, 50, 200))
    words = "eases its grip" if step < 0 else "grows fiercer" if step > 0 else "holds steady"
    return DungeonOutput(difficulty_pct=pct, mob_level_offset=int(clamp((pct - 100) // 10, -10, 10)),
                         extra_spawns=int(clamp((pct - 100) // 5 + inputs.party_size - 1, 0, 30)),
                         trap_density="high" if pct >= 130 else "low" if pct <= 80 else "normal",
                         description=f"The dungeon {words}: difficulty {pct}% for a party of {inputs.party_size}.")


def dungeon_apply(output: DungeonOutput, inputs: DungeonInputs) -> dict:
    effects = output.model_dump(exclude={"description"}) | {"party_size": inputs.party_size}
    # the tuning replaces the previous one at once
    WorldEvent.objects.filter(agent="adaptive_dungeon", map=inputs.map, status__in=ACTIVE).update(
        status=WorldEvent.Status.ENDED)
    event = create_event("adaptive_dungeon", "dungeon_tuning", f"Dungeon tuning: {inputs.map}", output.description,
                         inputs.map, effects, 24 * 60)
    WorldEvent.objects.filter(pk=event.pk).update(status=WorldEvent.Status.ACTIVE)
    return {"world_event": event.pk}


# -- event chain ------------------------------------------------------------------------------------
class ChainInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: int = Field(ge=1, description="the WorldEvent to continue")


class ChainOutput(Strict):
    kind: str = Field(min_length=3, max_length=40, pattern=r"^[a-z_]+$")
    title: str = Text(120)
    description: str = Text(500)
    delay_minutes: int = Field(ge=0, le=1440)
    duration_minutes: int = Field(ge=10, le=1440)
    effects: EventEffects


CHAINS = {  # what follows what: (kind, title, description, delay, duration, effects)
    "invasion": ("aftermath", "Rebuilding {map}", "The survivors of {title} rebuild; builders pay well for help.",
                 30, 240, {"price_pct": 115}),
    "festival": ("tournament", "Festival Tournament of {map}", "After {title}, champions face off in the arena.",
                 15, 120, {"exp_rate_pct": 120}),
    "plague": ("cure_hunt", "Search for a cure", "Healers seek herbs to end the sickness that followed {title}.",
               0, 240, {"drop_rate_pct": 130}),
    "boss": ("treasure_hunt", "Spoils of the fallen", "Where the beast of {title} fell, its hoard lies scattered.",
             10, 90, {"drop_rate_pct": 150}),
    "monster_surge": ("invasion", "The horde returns to {map}", "What began as {title} becomes a full assault.",
                      60, 90, {"exp_rate_pct": 150, "mob_count": 60}),
}
DEFAULT_CHAIN = ("rumours", "Whispers after {title}", "Townsfolk of {map} still talk about {title}; "
                 "some say it is not over.", 60, 120, {})


def chain_offline(inputs: ChainInputs) -> ChainOutput:
    event = WorldEvent.objects.get(pk=inputs.event_id)
    kind, title, description, delay, minutes, effects = CHAINS.get(event.kind, DEFAULT_CHAIN)
    words = {"map": event.map or "the realm", "title": event.title}
    mobs = event.effects.get("mob_ids", []) if isinstance(event.effects, dict) else []
    extra = {"mob_ids": mobs[:5]} if kind == "invasion" else {}
    return ChainOutput(kind=kind, title=title.format(**words)[:120], description=description.format(**words)[:500],
                       delay_minutes=delay, duration_minutes=minutes, effects=EventEffects(**effects, **extra))


def chain_apply(output: ChainOutput, inputs: ChainInputs) -> dict:
    parent = WorldEvent.objects.get(pk=inputs.event_id)
    event = create_event("event_chain", output.kind, output.title, output.description, parent.map,
                         output.effects.model_dump(), output.duration_minutes, delay_minutes=output.delay_minutes,
                         parent=parent)
    return {"world_event": event.pk, "parent": parent.pk}


def _chain_context(inputs: ChainInputs) -> dict:
    event = WorldEvent.objects.filter(pk=inputs.event_id).values("kind", "title", "description", "map",
                                                                 "effects").first()
    return {"event": event, "markets": list(Market.objects.values_list("map", flat=True)[:20])}


_WE = "Create world events for a fantasy MMORPG map that the game server can run"
AGENTS_HERE = (
    Agent("world_event", "periodic", "World event director", _WE, "You plan events that bring a map to life.",
          "Plan the next world event for this map from its state (players online, hour, active events).",
          MapInputs, WorldEventOutput, world_event_offline, world_event_apply, _event_context,
          "invasions, festivals, caravans, tournaments... as a planned WorldEvent with rates/mob effects"),
    Agent("map_hazard", "periodic", "Map hazard designer", _WE, "You know every climate of the world.",
          "Create one environmental hazard area fitting the map's climate and current weather.",
          MapInputs, HazardOutput, hazard_offline, hazard_apply, _event_context,
          "a damaging area (sandstorm, blizzard, miasma...) as a WorldEvent"),
    Agent("treasure", "periodic", "Treasure keeper", _WE, "You hide treasure and write riddling clues.",
          "Hide a treasure on the map: location, a clue pointing to it, items (existing item ids) and zeny.",
          MapInputs, TreasureOutput, treasure_offline, treasure_apply, _event_context,
          "a treasure spot with clue, items and zeny as a WorldEvent"),
    Agent("dynamic_boss", "request", "Boss encounter designer", _WE, "You tune boss fights to the party.",
          "Design a boss encounter scaled to the party: boss mob id, level, HP multiplier, minions, rewards.",
          BossInputs, BossOutput, boss_offline, boss_apply, _event_context,
          "an MVP scaled to the party (level, HP, minions, rewards) as a WorldEvent"),
    Agent("archaeology", "request", "Archaeologist", _WE, "You know the ancient history of the world.",
          "Reveal an excavation site: name, era, lore, dig spots, the tool needed and an artifact item id.",
          ArchaeologyInputs, ArchaeologyOutput, archaeology_offline, archaeology_apply, _event_context,
          "a dig site WorldEvent, and an investigate Quest for the finder"),
    Agent("adaptive_dungeon", "request", "Dungeon master", "Keep dungeon runs challenging but fair",
          "You read how a party fared and retune the dungeon for the next run.",
          "Retune the dungeon from the last run's party size, level, deaths and clear time.",
          DungeonInputs, DungeonOutput, dungeon_offline, dungeon_apply,
          lambda i: {"previous": _last_tuning(i.map)},
          "difficulty %, mob level offset, spawns and traps as the map's active dungeon_tuning WorldEvent"),
    Agent("event_chain", "periodic", "Story weaver", "Continue world events into stories",
          "You make each event lead to the next.", "Write the event that follows from the given event.",
          ChainInputs, ChainOutput, chain_offline, chain_apply, _chain_context,
          "the follow-up WorldEvent (parent = the event it continues)"),
)
