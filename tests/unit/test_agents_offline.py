"""Every agent's offline path: schema-valid output from realistic domain rows, deterministic, and
its effects persisted (asserted on the rows)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aiworld.agents import AGENTS, run
from aiworld.agents.dialogue import DialogueInputs, intent_of
from aiworld.agents.dialogue import offline as dialogue_offline
from aiworld.agents.personality import alignment
from aiworld.agents.runner import unsafe_text
from aiworld.errors import PayloadError
from aiworld.models import (
    NPC,
    AgentRun,
    EconomicAgent,
    EconomyReport,
    Faction,
    Item,
    Market,
    Memory,
    PlayerCharacter,
    Price,
    Quest,
    Relationship,
    Reputation,
    WorldEvent,
    WorldState,
)


def build_world() -> dict:
    """A small Prontera: items and prices, reports, factions, NPCs, a player, state and an ended event."""
    items = {i: Item.objects.create(item_id=i, name=n, base_price=p)
             for i, n, p in ((501, "Red Potion", 50), (502, "Orange Potion", 200), (909, "Jellopy", 6),
                             (1201, "Knife", 50), (2301, "Cotton Shirt", 10))}
    market = Market.objects.create(map="prontera")
    Price.objects.create(market=market, item=items[501], price=50)
    Price.objects.create(market=market, item=items[502], price=320)   # scarce: 1.6x base
    Price.objects.create(market=market, item=items[909], price=5)
    for n, (kind, item, units) in enumerate((("npc_purchase", 501, 90), ("trade", 501, 30), ("drop", 909, 400))):
        EconomyReport.objects.create(server="s1", report_id=f"r{n}", kind=kind, map="prontera", item_id=item,
                                     units=units, price=50)
    EconomicAgent.objects.create(name="Trader Joe", kind="merchant", market=market, wealth=10_000,
                                 inventory={"502": 5})
    guards = Faction.objects.create(name="Prontera Guard", kind="military", home_map="prontera")
    thieves = Faction.objects.create(name="Thieves Guild", kind="criminal", home_map="morocc")
    church = Faction.objects.create(name="Church", kind="religious")
    guards.rivals.add(church)  # shared friends below will make them call a truce
    warm = NPC.objects.create(game_id=1, name="Lily", job_class="merchant", map="prontera", x=150, y=150,
                              extraversion=0.9, agreeableness=0.9, openness=0.8, neuroticism=0.2, faction=guards)
    gruff = NPC.objects.create(game_id=2, name="Grum", job_class="guard", map="prontera", x=100, y=90,
                               extraversion=0.1, agreeableness=0.1, neuroticism=0.3, lawful=0.9, faction=guards)
    player = PlayerCharacter.objects.create(server="s1", char_id=7, name="Alice", karma=10)
    Relationship.objects.create(npc=warm, player=player, affinity=60, trust=0.8, interactions=12)
    for n in range(3):
        p = PlayerCharacter.objects.create(server="s1", char_id=100 + n, name=f"Friend{n}")
        Reputation.objects.create(player=p, faction=guards, points=200)
        Reputation.objects.create(player=p, faction=church, points=150)
    WorldState.objects.create(server="s1", map="prontera", state={"players_online": 25, "weather": "rain"})
    now = timezone.now()
    ended = WorldEvent.objects.create(agent="world_event", kind="invasion", title="Siege of Prontera",
                                      description="Monsters at the gates.", map="prontera",
                                      effects={"mob_ids": [1002]}, status="ended",
                                      starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=1))
    return {"items": items, "market": market, "warm": warm, "gruff": gruff, "player": player, "guards": guards,
            "thieves": thieves, "church": church, "ended": ended}


def inputs_for(name: str, w: dict) -> dict:
    persona = {"name": "Lily", "job_class": "merchant", "map": "prontera", "alignment": "neutral good",
               "personality": {"extraversion": 0.9, "agreeableness": 0.9}, "mood": "happy", "quirks": []}
    return {
        "dialogue": {"npc": persona, "player": {"name": "Alice"}, "relationship": {"affinity": 60, "interactions": 12},
                     "memories": ["Alice brought me three Red Potions"], "player_text": "Hello Lily!"},
        "decision": {"npc_id": w["gruff"].pk, "hour": 14, "nearby_players": 3, "threat": 0.8},
        "memory": {"npc_id": w["warm"].pk, "observations": [
            {"text": "Alice saved me from a wolf!", "player_id": w["player"].pk}, {"text": "It rained today."}]},
        "world": {"map": "prontera"},
        "quest": {"npc_id": w["warm"].pk, "player_id": w["player"].pk},
        "economy": {"market": "prontera"},
        "problem": {"map": "prontera", "hour": 10},
        "dynamic_npc": {"map": "prontera"},
        "world_event": {"map": "prontera", "hour": 10},
        "dynamic_boss": {"map": "prontera", "party_size": 4, "avg_level": 70},
        "faction": {},
        "reputation": {"player_id": w["player"].pk, "faction_id": w["guards"].pk, "deed": "defended", "magnitude": 2},
        "map_hazard": {"map": "morocc", "hour": 13},
        "treasure": {"map": "prontera", "hour": 9},
        "weather": {"map": "prontera", "hour": 19},
        "karma": {"player_id": w["player"].pk, "act": "scammed", "count": 4},
        "merchant_economy": {"market": "prontera"},
        "social_interaction": {"npc_a_id": w["warm"].pk, "npc_b_id": w["gruff"].pk},
        "adaptive_dungeon": {"map": "pay_dun00", "party_size": 3, "avg_level": 60, "deaths": 0,
                             "clear_time_s": 400, "target_time_s": 900},
        "archaeology": {"map": "morocc", "player_id": w["player"].pk},
        "event_chain": {"event_id": w["ended"].pk},
    }[name]


def persisted(name: str, w: dict, result) -> None:  # noqa: ANN001, C901 - one assertion set per agent
    """What each agent's apply() must have written."""
    out, applied = result.output, result.applied
    event = WorldEvent.objects.get(pk=applied["world_event"]) if "world_event" in applied else None
    if name == "dialogue":
        assert applied == {}  # the dialogue service persists the turn
    elif name == "decision":
        npc = NPC.objects.get(pk=w["gruff"].pk)
        assert out.action == "guard" and (npc.mood, npc.x, npc.y) == (out.mood, out.x, out.y) == ("angry", 100, 90)
    elif name == "memory":
        texts = set(Memory.objects.filter(npc=w["warm"]).values_list("text", flat=True))
        assert "Alice saved me from a wolf!" in texts and out.reflection in texts
        assert Memory.objects.get(pk=applied["reflection"]).kind == "reflection"
    elif name == "world":
        assessment = WorldState.objects.get(map="prontera").state["assessment"]
        assert assessment["tension"] == out.tension and "economy" in assessment["recommend"]
    elif name == "quest":
        quest = Quest.objects.get(pk=applied["quest"])
        assert (quest.giver, quest.player, quest.kind, quest.difficulty) == (w["warm"], w["player"], "fetch", "hard")
        assert Item.objects.filter(item_id=quest.objectives[0]["target"]).exists()
    elif name == "economy":
        assert Price.objects.get(item__item_id=501, market=w["market"]).price == 60  # demand 120, supply 0: +20% cap
        assert Price.objects.get(item__item_id=909, market=w["market"]).price == 4  # supply 400: -20% cap
        assert not EconomyReport.objects.filter(applied=False).exists()
    elif name == "problem":
        assert out.problem == "resource_shortage" and "Orange Potion" in out.title
        assert event.kind == "problem" and event.effects["quest_id"] == applied["quest"]
        assert Quest.objects.get(pk=applied["quest"]).trigger == "world_state"
    elif name == "dynamic_npc":
        assert out.changes and all(NPC.objects.get(pk=c.npc_id).mood == c.mood for c in out.changes)
    elif name == "world_event":
        assert out.kind == "invasion" and event.kind == "invasion" and event.map == "prontera"
        assert event.effects["mob_count"] == out.effects.mob_count > 0
    elif name == "dynamic_boss":
        assert event.kind == "boss" and event.effects["mob_id"] == out.mob_id and event.effects["level"] == 75
    elif name == "faction":
        w["guards"].refresh_from_db()
        assert w["church"] not in w["guards"].rivals.all()          # truce through 3 shared friends
        assert w["thieves"] in w["guards"].rivals.all()             # military vs criminal
        assert event.kind == "faction_news"
    elif name == "reputation":
        assert Reputation.objects.get(player=w["player"], faction=w["guards"]).points == 160
        assert applied["tier"] == "friendly"
    elif name == "map_hazard":
        assert out.hazard in ("sandstorm", "quicksand") and event.kind == "hazard" and event.map == "morocc"
    elif name == "treasure":
        assert event.kind == "treasure" and event.effects["items"] and event.effects["x"] == out.x
    elif name == "weather":
        state = WorldState.objects.get(map="prontera").state
        assert state["weather"] == out.weather and state["time_of_day"] == "dusk"
    elif name == "karma":
        w["player"].refresh_from_db()
        assert out.karma_delta == -50 and w["player"].karma == -40
    elif name == "merchant_economy":
        agent = EconomicAgent.objects.get(name="Trader Joe")
        # sold its Orange Potions above base (320 > 200), bought Jellopy below (5 < 6) with 20% of its purse
        assert agent.wealth == 10_000 + 5 * 320 - 400 * 5 and agent.inventory == {"909": 400}
        assert Price.objects.get(item__item_id=502, market=w["market"]).supply == 5
    elif name == "social_interaction":
        assert Memory.objects.filter(npc=w["warm"], text__contains="Grum").exists()
        assert Memory.objects.filter(npc=w["gruff"], text__contains="Lily").exists()
        assert NPC.objects.get(pk=w["warm"].pk).mood == "suspicious"  # Grum is curt
    elif name == "adaptive_dungeon":
        assert out.difficulty_pct == 115 and event.status == "active" and event.effects["difficulty_pct"] == 115
    elif name == "archaeology":
        assert event.kind == "dig_site" and Quest.objects.get(pk=applied["quest"]).kind == "investigate"
    elif name == "event_chain":
        assert event.parent_id == w["ended"].pk and event.kind == "aftermath"
    else:  # pragma: no cover - a new agent needs its assertions here
        pytest.fail(f"no persistence check for {name}")


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(AGENTS))
def test_offline_path_valid_deterministic_and_persisted(name: str) -> None:
    w = build_world()
    agent = AGENTS[name]
    parsed = agent.inputs_model.model_validate(inputs_for(name, w))
    first, second = agent.offline(parsed), agent.offline(parsed)
    assert first == second                                              # deterministic on the same state
    assert agent.output_model.model_validate(first.model_dump()) == first  # schema-valid
    assert unsafe_text(first) is None                                   # shows nothing the game refuses

    result = run(name, inputs_for(name, w), allow_llm=False)
    assert (result.path, result.reason) == ("offline", "disabled")
    assert result.output == first
    row = AgentRun.objects.get(pk=result.run_id)
    assert (row.agent, row.path, row.valid) == (name, "offline", True)
    assert row.output["_applied"] == result.applied
    persisted(name, w, result)


def test_there_are_21_agents() -> None:
    assert len(AGENTS) == 21


@pytest.mark.django_db
def test_unknown_agent_and_bad_inputs_are_payload_errors() -> None:
    with pytest.raises(PayloadError, match="unknown_agent"):
        run("nope", {})
    with pytest.raises(PayloadError, match="invalid_inputs.*market"):
        run("economy", {"map": "prontera"})


@pytest.mark.django_db
def test_request_id_makes_a_run_idempotent() -> None:
    w = build_world()
    first = run("treasure", inputs_for("treasure", w), allow_llm=False, request_id="req-1")
    again = run("treasure", inputs_for("treasure", w), allow_llm=False, request_id="req-1")
    assert again.run_id == first.run_id and WorldEvent.objects.filter(kind="treasure").count() == 1


# -- dialogue ---------------------------------------------------------------------------------------
def _dialogue(text: str, *, extraversion=0.5, agreeableness=0.5, affinity=0, interactions=3, memories=(),
              mood="neutral", quirks=(), alignment_text="true neutral") -> DialogueInputs:
    return DialogueInputs.model_validate({
        "npc": {"name": "Bob", "job_class": "merchant", "map": "prontera", "mood": mood, "quirks": list(quirks),
                "alignment": alignment_text,
                "personality": {"extraversion": extraversion, "agreeableness": agreeableness}},
        "player": {"name": "Alice"}, "relationship": {"affinity": affinity, "interactions": interactions},
        "memories": list(memories), "player_text": text})


@pytest.mark.parametrize(("text", "intent"), [
    ("Hello there!", "greeting"), ("Goodbye, see you", "farewell"), ("How much for a potion?", "trade"),
    ("Do you have any work for me?", "quest"), ("Where is the Kafra?", "directions"),
    ("Any news lately?", "rumours"), ("You are a stupid fool", "insult"), ("Thanks a lot!", "thanks"),
    ("Who are you?", "about_self"), ("Purple elephants", "unknown"), ("Hello, you idiot", "insult"),
])
def test_intent_detection(text: str, intent: str) -> None:
    assert intent_of(text) == intent


def test_opposite_personalities_answer_differently() -> None:
    warm = dialogue_offline(_dialogue("Can I buy something?", extraversion=0.9, agreeableness=0.9))
    gruff = dialogue_offline(_dialogue("Can I buy something?", extraversion=0.1, agreeableness=0.1))
    assert warm.reply != gruff.reply
    assert "!" in warm.reply and "!" not in gruff.reply        # the introvert does not exclaim
    insult_warm = dialogue_offline(_dialogue("you idiot", agreeableness=0.9))
    insult_gruff = dialogue_offline(_dialogue("you idiot", agreeableness=0.1))
    assert (insult_warm.emotion, insult_gruff.emotion) == ("sad", "angry")
    assert insult_gruff.relationship_delta < insult_warm.relationship_delta < 0


def test_greeting_depends_on_the_relationship() -> None:
    friend = dialogue_offline(_dialogue("Hi", affinity=80, interactions=20))
    stranger = dialogue_offline(_dialogue("Hi", affinity=0, interactions=0))
    enemy = dialogue_offline(_dialogue("Hi", affinity=-80, interactions=20))
    assert "Alice" in friend.reply and friend.emotion == "happy"
    assert "Alice" not in stranger.reply and stranger.importance > friend.importance  # a first meeting matters
    assert "forgotten" in enemy.reply and enemy.emotion == "suspicious"
    assert len({friend.reply, stranger.reply, enemy.reply}) == 3


def test_uses_a_given_memory_quirks_and_is_deterministic() -> None:
    inputs = _dialogue("Hello", affinity=50, memories=["Alice gave me a Jellopy"], quirks=["ends sentences with 'nya'"])
    reply = dialogue_offline(inputs)
    assert "Alice gave me a Jellopy" in reply.reply and "nya" in reply.reply
    assert dialogue_offline(inputs) == reply
    assert unsafe_text(reply) is None
    assert dialogue_offline(_dialogue("Do you have a job for me?", affinity=10)).offer_quest is True
    assert dialogue_offline(_dialogue("Do you have a job for me?", affinity=-50)).offer_quest is False


@pytest.mark.parametrize(("axes", "expected"), [
    ((0.9, 0.9, 0.7), "lawful good"), ((-0.8, -0.9, -0.6), "chaotic evil"), ((0.0, 0.0, 0.0), "true neutral"),
    ((0.5, 0.5, 0.5), "lawful good"), ((0.9, 0.0, 0.0), "true neutral"),
    ((-0.5, 0.49, -0.5), "neutral evil"), ((1.0, -0.5, 0.0), "chaotic good"),
])
def test_alignment_grid(axes: tuple[float, float, float], expected: str) -> None:
    altruism, honest = axes[0], axes[2]
    assert alignment(altruism, axes[1], honest) == expected
