"""NPC memory (aiworld.npc.memory) against the real PostgreSQL + pgvector."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from aiworld.errors import PayloadError
from aiworld.models.npc import NPC, Memory, PlayerCharacter
from aiworld.npc import memory as mem
from aiworld.tasks.memory import memory_maintenance

pytestmark = pytest.mark.django_db


@pytest.fixture
def npc() -> NPC:
    return NPC.objects.create(game_id=4001, name="Kafra Leilah")


@pytest.fixture
def alice() -> PlayerCharacter:
    return PlayerCharacter.objects.create(server="s1", char_id=1, name="Alice")


@pytest.fixture
def bob() -> PlayerCharacter:
    return PlayerCharacter.objects.create(server="s1", char_id=2, name="Bob")


def _age(memory: Memory, *, hours: float = 0.0, created_days: float | None = None) -> None:
    """Backdate last_accessed (and created_at) in the database; auto_now_add fields ignore constructors."""
    now = timezone.now()
    fields = {"last_accessed": now - timedelta(hours=hours)}
    if created_days is not None:
        fields["created_at"] = now - timedelta(days=created_days)
    Memory.objects.filter(pk=memory.pk).update(**fields)


# -- importance rules -------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("I sorted the shelves by colour", 3),                          # no rule: default
    ("Good morning, nice weather today", 2),                        # small talk
    ("The orc chief killed my brother at the gate", 9),             # death
    ("Alice gave me a bouquet of flowers", 6),                      # gift
    ("Alice gave me 50,000 zeny for the repairs", 7),               # gift 6, money 4 -> two topics +1
    ("Bob paid 120 zeny for an apple", 2),                          # money only: 120 z -> 2 ("paid" is no gift)
    ("He threatened to burn down my shop!", 9),                     # threat 8 + shouting
    ("A stranger introduced herself for the first time", 5),        # first meeting
    ("Bob lied about the price", 7),                                # insult 6, trade 4 -> +1
])
def test_rate_importance_rules(text: str, expected: int) -> None:
    assert mem.rate_importance(text) == expected
    assert mem.rate_importance(text) == expected  # deterministic


def test_money_scales_with_the_amount() -> None:
    small, big = mem.rate_importance("found 100 zeny"), mem.rate_importance("found 1,000,000 zeny")
    assert small < big and 1 <= small and big <= 10


def test_remember_rates_embeds_and_adds_to_the_counter(npc: NPC, alice: PlayerCharacter) -> None:
    first = mem.remember(npc, "The orc chief killed my brother at the gate", player=alice)
    second = mem.remember(npc, "Sorted the shelves", importance=4)
    first.refresh_from_db()
    assert (first.importance, first.kind, first.player_id) == (9, "episodic", alice.pk)
    assert len(first.embedding) == 256 and abs(sum(x * x for x in first.embedding) - 1.0) < 1e-4
    assert second.importance == 4
    npc.refresh_from_db()
    assert npc.importance_since_reflection == 13.0


@pytest.mark.parametrize(("args", "code"), [
    ({"text": "   "}, "invalid_text"),
    ({"text": None}, "invalid_text"),
    ({"text": "x" * 2001}, "text_too_long"),
    ({"text": "hi", "kind": "dream"}, "invalid_kind"),
    ({"text": "hi", "importance": 11}, "invalid_importance"),
    ({"text": "hi", "importance": "5"}, "invalid_importance"),
])
def test_remember_rejects_bad_input_and_stores_nothing(npc: NPC, args: dict, code: str) -> None:
    with pytest.raises(PayloadError) as error:
        mem.remember(npc, **args)
    assert error.value.code == code
    assert not Memory.objects.exists()
    npc.refresh_from_db()
    assert npc.importance_since_reflection == 0.0


# -- retrieval --------------------------------------------------------------------------------------
def test_relevance_ranks_the_relevant_memory_first_even_when_older(npc: NPC) -> None:
    relevant = mem.remember(npc, "Bob bought three red healing potions from my stall", importance=5)
    others = [mem.remember(npc, text, importance=5) for text in (
        "A dragon flew over the castle walls at dawn",
        "The harvest festival starts next week in the village",
        "The blacksmith's anvil cracked during the night",
    )]
    _age(relevant, hours=200)  # recency (weight 0.5) alone cannot outweigh relevance (weight 3)
    for other in others:
        _age(other, hours=0)
    result = mem.retrieve(npc, "Where can I buy healing potions?", k=2)
    assert result[0].pk == relevant.pk
    assert len(result) == 2


def test_recency_decides_between_equal_memories(npc: NPC) -> None:
    old = mem.remember(npc, "Someone left a basket of apples at my door", importance=4)
    new = mem.remember(npc, "Someone left a basket of apples at my door", importance=4)
    mem.remember(npc, "The river flooded the lower fields", importance=4)
    _age(old, hours=100)
    _age(new, hours=1)
    assert [m.pk for m in mem.retrieve(npc, "basket of apples", k=2)] == [new.pk, old.pk]


def test_importance_decides_between_equal_memories(npc: NPC) -> None:
    minor = mem.remember(npc, "A traveller asked about the road to Geffen", importance=2)
    major = mem.remember(npc, "A traveller asked about the road to Geffen", importance=9)
    mem.remember(npc, "The river flooded the lower fields", importance=4)
    _age(minor, hours=5)
    _age(major, hours=6)  # recency favours the minor one: only importance can put the major one first
    assert [m.pk for m in mem.retrieve(npc, "road to Geffen", k=2)] == [major.pk, minor.pk]


def test_player_scoping(npc: NPC, alice: PlayerCharacter, bob: PlayerCharacter) -> None:
    about_alice = mem.remember(npc, "Alice asked me about the secret cave", player=alice)
    about_bob = mem.remember(npc, "Bob asked me about the secret cave", player=bob)
    general = mem.remember(npc, "Rumours say a secret cave lies north of town")
    other_npc = NPC.objects.create(game_id=4002, name="Other")
    mem.remember(other_npc, "Alice asked me about the secret cave", player=alice)

    for_alice = {m.pk for m in mem.retrieve(npc, "secret cave", player=alice, k=10)}
    assert for_alice == {about_alice.pk, general.pk}
    assert {m.pk for m in mem.retrieve(npc, "secret cave", player=bob, k=10)} == {about_bob.pk, general.pk}
    assert {m.pk for m in mem.retrieve(npc, "secret cave", k=10)} == {about_alice.pk, about_bob.pk, general.pk}


def test_retrieval_updates_last_accessed_of_returned_memories_only(npc: NPC) -> None:
    hit = mem.remember(npc, "Bob bought three red healing potions from my stall", importance=5)
    miss = mem.remember(npc, "A dragon flew over the castle walls at dawn", importance=5)
    for memory in (hit, miss):
        _age(memory, hours=48)
    before = timezone.now()
    [returned] = mem.retrieve(npc, "healing potions", k=1)
    hit.refresh_from_db()
    miss.refresh_from_db()
    assert returned.pk == hit.pk
    assert hit.last_accessed >= before and hit.access_count == 1
    assert returned.last_accessed == hit.last_accessed and returned.access_count == 1
    assert miss.last_accessed < before and miss.access_count == 0


@pytest.mark.django_db(transaction=True)
def test_retrieval_outside_a_transaction_commits_the_access_update(npc: NPC) -> None:
    # autocommit, as in a worker (the other tests run inside pytest-django's transaction)
    hit = mem.remember(npc, "Bob bought three red healing potions from my stall", importance=5)
    assert not connection.in_atomic_block
    [returned] = mem.retrieve(npc, "healing potions", k=1)
    hit.refresh_from_db()
    assert returned.pk == hit.pk and hit.access_count == 1


def test_retrieve_rejects_bad_input(npc: NPC) -> None:
    for kwargs, code in (({"query": ""}, "invalid_text"), ({"query": "x", "k": 0}, "invalid_k"),
                         ({"query": "x", "k": 101}, "invalid_k")):
        with pytest.raises(PayloadError) as error:
            mem.retrieve(npc, **kwargs)
        assert error.value.code == code
    assert mem.retrieve(npc, "nothing stored yet") == []


def test_exact_and_hnsw_candidates_agree_on_a_small_table(npc: NPC) -> None:
    texts = ["red potion sale", "dragon attack", "harvest festival", "lost ring", "guild meeting", "rainy day"]
    for text in texts:
        mem.remember(npc, text, importance=3)
    query = mem.embeddings.embed_one("a dragon attacked")
    exact = mem.candidates(npc.pk, query, 3, strategy="exact")
    hnsw = mem.candidates(npc.pk, query, 3, strategy="hnsw")
    assert [m.pk for m in exact] == [m.pk for m in hnsw]
    for strategy, index_used in (("exact", False), ("hnsw", True)):
        sql, params = mem.candidate_query(npc.pk, query, 3, strategy=strategy)
        with connection.cursor() as cursor:
            if strategy == "hnsw":
                for statement in mem.HNSW_SETTINGS:
                    cursor.execute(statement)
            cursor.execute("EXPLAIN " + sql, params)
            text = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET ALL")
        assert ("memory_embedding_hnsw" in text) is index_used, text
    assert exact[0].text == "dragon attack"
    assert exact[0].distance <= exact[1].distance <= exact[2].distance


# -- reflection -------------------------------------------------------------------------------------
def _fill_to(npc: NPC, alice: PlayerCharacter, total: int) -> None:
    """Memories whose importance sums to `total`: Alice's good deeds (6 each) and general small talk."""
    for i in range(total // 6):
        mem.remember(npc, f"Alice gave me a gift of apples, basket {i}", player=alice, importance=6)
    for _ in range(total % 6):
        mem.remember(npc, "We chatted about the weather", importance=1)


def test_reflection_triggers_at_the_threshold_exactly_once(npc: NPC, alice: PlayerCharacter) -> None:
    _fill_to(npc, alice, 149)
    assert mem.maybe_reflect(npc) == []  # 149 < 150
    mem.remember(npc, "We chatted about the weather", importance=1)  # 150: reached

    reflections = mem.maybe_reflect(npc)
    assert reflections, "no reflection at the threshold"
    assert mem.maybe_reflect(npc) == []  # claimed: a second call makes none
    npc.refresh_from_db()
    assert npc.importance_since_reflection == 0.0
    stored = list(Memory.objects.filter(npc=npc, kind="reflection"))
    assert {m.pk for m in stored} == {m.pk for m in reflections}
    trust = next(m for m in stored if m.player_id == alice.pk)
    assert trust.text == "I have come to trust Alice: they did right by me 24 times."
    evidence = Memory.objects.filter(pk__in=trust.evidence)
    assert evidence.count() == 24 and all(m.player_id == alice.pk for m in evidence)
    # reflections do not feed the counter, and are retrievable for the player they are about
    assert any(m.kind == "reflection" for m in mem.retrieve(npc, "Do I trust Alice?", player=alice, k=3))


@pytest.mark.django_db(transaction=True)
def test_two_workers_reflecting_at_once_reflect_once(npc: NPC, alice: PlayerCharacter) -> None:
    _fill_to(npc, alice, 150)
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(5)
            results.append(len(mem.maybe_reflect(NPC.objects.get(pk=npc.pk))))
        except BaseException as exc:  # reported below; a thread's exception would be lost otherwise
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sorted(results)[0] == 0 and sorted(results)[1] > 0
    assert Memory.objects.filter(npc=npc, kind="reflection").count() == max(results)


def test_distrust_and_topic_reflections(npc: NPC, alice: PlayerCharacter, bob: PlayerCharacter) -> None:
    for i in range(3):
        mem.remember(npc, f"Bob stole bread from my stall, time {i}", player=bob, importance=8)
    for i in range(3):
        mem.remember(npc, f"Bandits ambushed a caravan on the road, day {i}", importance=8)
    NPC.objects.filter(pk=npc.pk).update(importance_since_reflection=150)
    texts = {m.text for m in mem.maybe_reflect(npc)}
    assert "I do not trust Bob: they wronged me three times." in texts
    assert "These parts have grown dangerous: attacks and thefts came up three times lately." in texts


# -- retention --------------------------------------------------------------------------------------
def test_retention_deletes_faded_episodic_memories_and_keeps_the_rest(npc: NPC) -> None:
    old_minor = mem.remember(npc, "old small talk", importance=2)
    old_major = mem.remember(npc, "old important event", importance=8)
    new_minor = mem.remember(npc, "new small talk", importance=2)
    old_reflection = mem.remember(npc, "old reflection", kind="reflection", importance=2)
    old_fact = mem.remember(npc, "old fact", kind="semantic", importance=1)
    for memory in (old_minor, old_major, old_reflection, old_fact):
        _age(memory, created_days=mem.EPISODIC_MAX_AGE_DAYS + 1)
    _age(new_minor, created_days=mem.EPISODIC_MAX_AGE_DAYS - 1)

    assert mem.apply_retention() == {"aged": 1, "over_cap": 0}
    assert set(Memory.objects.values_list("pk", flat=True)) == {old_major.pk, new_minor.pk, old_reflection.pk,
                                                                old_fact.pk}


def test_retention_caps_episodic_memories_per_npc(npc: NPC, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mem, "EPISODIC_CAP_PER_NPC", 3)
    monkeypatch.setattr(mem, "DELETE_BATCH", 1)  # also exercises the batching loop
    low_old = mem.remember(npc, "a", importance=2)
    low_new = mem.remember(npc, "b", importance=2)
    high = [mem.remember(npc, t, importance=7) for t in ("c", "d")]
    reflections = [mem.remember(npc, t, kind="reflection", importance=1) for t in ("e", "f")]
    _age(low_old, created_days=3)
    _age(low_new, created_days=1)
    other = NPC.objects.create(game_id=4002, name="Other")
    others = [mem.remember(other, t, importance=1) for t in ("g", "h", "i")]  # at the cap: untouched

    assert mem.apply_retention() == {"aged": 0, "over_cap": 1}
    kept = set(Memory.objects.values_list("pk", flat=True))
    assert kept == {low_new.pk, *(m.pk for m in high + reflections + others)}


def test_retention_stops_at_its_time_budget_and_resumes(npc: NPC, monkeypatch: pytest.MonkeyPatch) -> None:
    faded = [mem.remember(npc, f"old small talk {i}", importance=1) for i in range(3)]
    for memory in faded:
        _age(memory, created_days=mem.EPISODIC_MAX_AGE_DAYS + 1)
    monkeypatch.setattr(mem, "DELETE_BATCH", 1)
    monkeypatch.setattr(mem, "RETENTION_BUDGET_S", 0.0)
    assert mem.apply_retention() == {"aged": 0, "over_cap": 0}  # out of time before the first batch
    monkeypatch.setattr(mem, "RETENTION_BUDGET_S", 8.0)
    assert mem.apply_retention() == {"aged": 3, "over_cap": 0}


def test_maintenance_task_runs_retention_and_due_reflections(npc: NPC, alice: PlayerCharacter) -> None:
    _fill_to(npc, alice, 150)
    faded = mem.remember(npc, "old small talk", importance=1)
    _age(faded, created_days=mem.EPISODIC_MAX_AGE_DAYS + 1)
    result = memory_maintenance.run()
    assert result["deleted_aged"] == 1 and result["reflections"] >= 1
    assert memory_maintenance.run()["reflections"] == 0


def test_maintenance_task_is_registered_and_routed_to_the_cpu_queue() -> None:
    import celeryconfig
    from aiworld.celery import app

    app.loader.import_default_modules()
    assert "aiworld.npc.memory_maintenance" in app.tasks
    assert celeryconfig.queue_for_task("aiworld.npc.memory_maintenance") == "cpu"
