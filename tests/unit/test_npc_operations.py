"""Quests, reports, rate limits, the reply cache and the HTTP API against real PostgreSQL and Valkey."""

from __future__ import annotations

import json

import pytest

from aiworld.errors import PayloadError
from aiworld.models import NPC, DeadLetter, EconomyReport, Faction, PlayerCharacter, Quest, Reputation, WorldState
from aiworld.npc import limits, quests, reply_cache, reports
from aiworld.npc.reputation import tier
from aiworld.services import api_keys, kv

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_kv():
    kv.client().flushdb()


def _quest(**overrides) -> Quest:
    faction = Faction.objects.create(name="Prontera Guard", kind="military")
    giver = NPC.objects.create(game_id=501, name="Captain Rolf", faction=faction)
    player = PlayerCharacter.objects.create(server="s1", char_id=7, name="Alice")
    fields = {"giver": giver, "player": player, "title": "Poring trouble", "description": "Cull the porings.",
              "kind": "kill", "difficulty": "normal",
              "objectives": [{"kind": "kill", "target": 1002, "count": 3},
                             {"kind": "fetch", "target": 909, "count": 1}],
              "rewards": {"zeny": 500}}
    fields.update(overrides)
    return Quest.objects.create(**fields)


def test_progress_counts_each_event_once_and_completion_pays_reputation_once():
    quest = _quest()
    for request_id in ("e1", "e2", "e2", "e3"):  # e2 is redelivered
        quests.record_progress("s1", 7, quest.pk, request_id, {"kind": "kill", "target": 1002, "count": 1})
    quest.refresh_from_db()
    assert quest.progress["counts"] == [3, 0] and quest.status == Quest.Status.ACCEPTED
    with pytest.raises(PayloadError) as missing:
        quests.complete("s1", 7, quest.pk)
    assert missing.value.code == "objectives_incomplete"
    quests.record_progress("s1", 7, quest.pk, "e4", {"kind": "fetch", "target": 909, "count": 5})
    quest.refresh_from_db()
    assert quest.progress["counts"] == [3, 1]  # capped at the objective's count
    _, newly = quests.complete("s1", 7, quest.pk)
    _, again = quests.complete("s1", 7, quest.pk)
    assert (newly, again) == (True, False)
    assert Reputation.objects.get().points == quests.REPUTATION_PER_DIFFICULTY["normal"]


def test_a_quest_of_another_character_is_refused():
    quest = _quest()
    with pytest.raises(PayloadError) as error:
        quests.record_progress("s1", 8, quest.pk, "x", {"kind": "kill", "target": 1002})
    assert error.value.code == "unknown_quest"


def test_economy_reports_are_idempotent_and_validated():
    batch = [{"id": "t1", "kind": "trade", "map": "prontera", "item_id": 501, "units": 3, "price": 50},
             {"id": "d1", "kind": "drop", "map": "prt_fild08", "item_id": 909, "units": 1}]
    assert reports.record_economy("s1", batch) == 2
    assert reports.record_economy("s1", batch) == 0
    assert EconomyReport.objects.count() == 2
    with pytest.raises(PayloadError) as error:
        reports.record_economy("s1", [{"id": "x", "kind": "theft", "map": "p", "item_id": 1, "units": 1}])
    assert "kind" in error.value.message
    reports.record_world_state("s1", "prontera", {"players": 12, "weather": "rain"})
    reports.record_world_state("s1", "prontera", {"players": 14, "weather": "rain"})
    assert WorldState.objects.get().state["players"] == 14


def test_rate_limits_refuse_a_flooding_player_with_a_retry_time(monkeypatch):
    monkeypatch.setenv("AIWORLD_DIALOGUE_PER_PLAYER", "3")
    verdicts = [limits.check("s1", 7, 501) for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert verdicts[-1].scope == "player" and 1 <= verdicts[-1].retry_after_s <= limits.WINDOW_S
    assert limits.check("s1", 8, 501).allowed  # another player is not affected


def test_reply_cache_exact_semantic_player_scoping_and_names():
    scope = reply_cache.Scope(npc_key="n1:abc:neutral:friend", player_key="n1:abc:neutral:friend:p1")
    reply = {"text": "Welcome back, Alice! The smithy is east of the fountain.", "emotion": "happy"}
    reply_cache.store(scope, "Where is the blacksmith?", reply, "Alice", player_specific=False)
    exact = reply_cache.lookup(scope, "  where is the BLACKSMITH?", "Bob")
    assert exact.kind == "exact_cache" and exact.reply["text"].startswith("Welcome back, Bob!")
    assert reply_cache.lookup(scope, "Sell me a red potion", "Bob") is None
    other = reply_cache.Scope(npc_key="n1:abc:neutral:enemy", player_key="n1:abc:neutral:enemy:p1")
    assert reply_cache.lookup(other, "Where is the blacksmith?", "Bob") is None  # another relationship bucket
    private = {"text": "You still owe me 300 zeny, Alice.", "emotion": "angry"}
    reply_cache.store(scope, "Do I owe you anything?", private, "Alice", player_specific=True)
    assert reply_cache.lookup(scope, "Do I owe you anything?", "Alice").reply == private
    someone_else = reply_cache.Scope(npc_key=scope.npc_key, player_key=scope.npc_key + ":p2")
    assert reply_cache.lookup(someone_else, "Do I owe you anything?", "Bob") is None


def test_semantic_hits_need_the_threshold(monkeypatch):
    scope = reply_cache.Scope(npc_key="n2", player_key="n2:p1")
    reply_cache.store(scope, "Where can I find the blacksmith?", {"text": "East.", "emotion": "neutral"}, "A",
                      player_specific=False)
    monkeypatch.setenv("AIWORLD_SEMANTIC_THRESHOLD", "0.5")
    hit = reply_cache.lookup(scope, "where is the blacksmith", "B")
    assert hit is not None and hit.kind == "semantic_cache" and 0.5 <= hit.similarity < 1.0
    monkeypatch.setenv("AIWORLD_SEMANTIC_THRESHOLD", "0.999")
    assert reply_cache.lookup(scope, "where is the blacksmith", "B") is None


def test_in_flight_claims_are_exclusive():
    scope = reply_cache.Scope(npc_key="n3", player_key="n3:p1")
    assert reply_cache.claim(scope, "hello") and not reply_cache.claim(scope, "hello")
    reply_cache.release(scope, "hello")
    assert reply_cache.claim(scope, "hello")


def test_reputation_tiers_follow_the_documented_thresholds():
    assert [tier(p) for p in (-501, -500, -101, -100, -1, 0, 99, 100, 499, 500, 999, 1000, 1999, 2000)] == [
        "hated", "hostile", "hostile", "unfriendly", "unfriendly", "neutral", "neutral", "friendly", "friendly",
        "honored", "honored", "revered", "revered", "exalted"]


def test_http_api_authenticates_scopes_to_the_server_and_dead_letters_bad_input(client):
    _, key = api_keys.create(name="web", server="s1")
    url = "/api/v1/report_state"
    body = json.dumps({"map": "prontera", "state": {"players": 3}})
    assert client.post(url, body, content_type="application/json").status_code == 401
    assert client.post(url, body, content_type="application/json",
                       headers={"Authorization": "Bearer aiw_wrong"}).status_code == 401
    auth = {"Authorization": f"Bearer {key}"}
    ok = client.post(url, body, content_type="application/json", headers=auth)
    assert ok.status_code == 200 and ok.json()["ok"] is True
    assert WorldState.objects.get(server="s1", map="prontera").state == {"players": 3}
    other = client.post(url, json.dumps({"server": "s2", "map": "x", "state": {}}), content_type="application/json",
                        headers=auth)
    assert other.status_code == 403
    bad = client.post(url, json.dumps({"map": "", "state": {}}), content_type="application/json", headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_map"
    assert DeadLetter.objects.filter(task_name="api:report_state", error_code="bad_map").exists()
    assert client.post("/api/v1/nothing", "{}", content_type="application/json", headers=auth).status_code == 404
    assert client.get(url, headers=auth).status_code == 405


def test_semantic_hits_need_the_same_items_monsters_and_places(monkeypatch):
    from aiworld.npc import entities

    entities.forget()
    scope = reply_cache.Scope(npc_key="n4", player_key="n4:p1")
    reply_cache.store(scope, "Where is the inn?", {"text": "Past the fountain.", "emotion": "neutral"}, "A",
                      player_specific=False)
    monkeypatch.setenv("AIWORLD_SEMANTIC_THRESHOLD", "0.3")  # low on purpose: only the guard can refuse
    assert entities.mentions("Which way to the INNs??") == {"inn"}
    assert reply_cache.lookup(scope, "Which way to the inn?", "B").kind == "semantic_cache"
    assert reply_cache.lookup(scope, "Where is the church?", "B") is None
    monkeypatch.setenv("AIWORLD_SEMANTIC_ENTITY_GUARD", "0")
    assert reply_cache.lookup(scope, "Where is the church?", "B") is not None  # what the guard prevents


def test_quest_request_and_npc_decision_operations_use_their_agents():
    from aiworld.npc import operations

    NPC.objects.create(game_id=900, name="Varg", job_class="guard", map="prontera")
    offered = operations.quest_request({"server": "s1", "request_id": "q1", "npc": 900, "char_id": 3,
                                        "player_name": "Cid"})
    assert offered["quest"]["status"] == "offered" and offered["quest"]["giver"] == 900
    again = operations.quest_request({"server": "s1", "request_id": "q2", "npc": 900, "char_id": 3,
                                      "player_name": "Cid"})
    assert again["quest"]["id"] == offered["quest"]["id"]  # the open offer, not a second quest
    decision = operations.npc_decide({"server": "s1", "request_id": "d1", "npc": 900, "hour": 3, "threat": 0.9})
    assert decision["source"] == "offline" and decision["decision"]["action"]
    assert operations.npc_decide({"server": "s1", "request_id": "d1", "npc": 900})["decision"] == decision["decision"]
    with pytest.raises(PayloadError) as error:
        operations.npc_decide({"server": "s1", "npc": 900, "threat": 7})
    assert error.value.code == "invalid_inputs"
