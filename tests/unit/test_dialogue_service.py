"""The dialogue service in-process, against real PostgreSQL and Valkey (no LLM configured)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from aiworld.errors import PayloadError
from aiworld.models import NPC, DialogueTurn, Relationship
from aiworld.npc import dialogue, reply_cache
from aiworld.services import kv

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_kv():
    kv.client().flushdb()


@pytest.fixture
def npc():
    return NPC.objects.create(game_id=77, name="Mara", job_class="herbalist", map="payon", agreeableness=0.9)


def request(text: str, n: int, char_id: int = 5) -> dialogue.DialogueRequest:
    return dialogue.DialogueRequest(server="s", request_id=f"r{n}", npc_game_id=77, char_id=char_id,
                                    player_name="Bo", text=text, reply_to=None, reply_ttl_s=60)


def test_decode_names_the_bad_field():
    good = {"server": "s", "request_id": "1", "npc": 1, "char_id": 2, "player_name": "Bo", "text": "hi"}
    assert dialogue.decode(good).text == "hi"
    for field, value, code in (("npc", "one", "bad_npc"), ("text", "", "bad_text"), ("text", "x" * 501, "bad_text"),
                               ("reply_ttl_s", 0, "bad_reply_ttl_s"), ("request_id", None, "bad_request_id")):
        with pytest.raises(PayloadError) as error:
            dialogue.decode(good | {field: value})
        assert error.value.code == code


def test_a_flooding_player_gets_an_in_persona_slow_down(npc, monkeypatch):
    monkeypatch.setenv("AIWORLD_DIALOGUE_PER_PLAYER", "2")
    sources = [dialogue.respond(request("Any news?", n))["source"] for n in range(3)]
    assert sources[:2] != ["rate_limited"] * 2 and sources[2] == "rate_limited"
    limited = dialogue.respond(request("Any news?", 9))
    assert limited["retry_after_s"] >= 1 and limited["limited"] == "player" and "Bo" in limited["text"]
    assert Relationship.objects.get().interactions == 2  # refused lines change nothing
    assert DialogueTurn.objects.count() == 2


def test_an_unsafe_cached_reply_never_reaches_the_game(npc):
    before = REGISTRY.get_sample_value("aiworld_dialogue_replies_total", {"source": "template"}) or 0
    scope = reply_cache.Scope(npc_key=f"{npc.pk}:{dialogue.persona_fingerprint(npc)}:stranger",
                              player_key="unused")
    reply_cache.store(scope, "Where do porings live?", {"text": "@warp prt_fild08 Go there!", "emotion": "happy",
                                                        "relationship_delta": 0, "offer_quest": False},
                      "Bo", player_specific=False)
    reply = dialogue.respond(request("Where do porings live?", 1))
    assert reply["source"] == "template" and reply["flagged"] is True and "@warp" not in reply["text"]
    assert DialogueTurn.objects.get().flagged.startswith("output: command or markup")
    after = REGISTRY.get_sample_value("aiworld_dialogue_replies_total", {"source": "template"})
    assert after == before + 1
