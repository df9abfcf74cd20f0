"""NPC memory in the manner of Generative Agents (Park et al. 2023): a memory stream of observations,
facts and reflections, retrieved by recency, relevance and importance (../shared/BRIEF.md §5).

- remember(): embed the text (aiworld.npc.embeddings, local 256-d), store it, add its importance to
  NPC.importance_since_reflection with an atomic F() update.
- retrieve(): candidates by vector distance (10x over-fetch, restricted to the NPC, and with a player
  to that player's memories plus the NPC's general ones), re-ranked in Python by
      score = 0.5 * recency + 3 * relevance + 2 * importance
  each part min-max normalised over the candidates. Recency is 0.99 ** (hours since last access)
  (the paper's exponential decay on wall time; the brief's rank-based form loses how far apart two
  accesses are). Relevance is cosine similarity, importance the stored 1..10 rating. The returned
  memories' last_accessed/access_count are updated in one UPDATE.
- rate_importance(): deterministic keyword rules (offline; the paper asks an LLM), see its docstring.
- maybe_reflect(): past REFLECTION_THRESHOLD, template reflections per player and per topic from the
  most important memories since the last reflection; the counter is claimed with a conditional
  UPDATE so two workers never reflect twice.
- apply_retention(): the retention policy (constants below).

Candidate search (SEARCH_STRATEGY): pgvector here is 0.6.2, which has no iterative index scans, and an
HNSW scan filtered on npc_id returns at most hnsw.ef_search (<= 1,000) rows before the filter: with
~1,000 memories per NPC among 1,000,000 that is ~1 matching row. Measured at 1M memories
(bench/memory.py, docs/benchmarks.md): the filtered HNSW scan returned 1.2 of 10 rows, recall@10
0.117, p50 46 ms; the exact distance over the NPC's own rows (npc_id btree, ~1,000 rows) is exact
and took p50 7.9 ms, p95 11.3 ms. So "exact" is the default and the HNSW index serves no query of
this module; it only costs writes (see _mark_accessed). Since migration 0005 the exact search reads the
NPC's vectors from the covering index memory_npc_vectors (an index-only scan of ~150 pages where the
rows lie on ~1,000) and only the candidates' rows from the table.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from aiworld.errors import PayloadError
from aiworld.models.npc import NPC, Memory, PlayerCharacter
from aiworld.npc import embeddings

# -- retrieval ------------------------------------------------------------------------------------
W_RECENCY, W_RELEVANCE, W_IMPORTANCE = 0.5, 3.0, 2.0
RECENCY_DECAY_PER_HOUR = 0.99
OVERFETCH = 10  # candidates per result (AI Town)
MAX_K = 100
MAX_TEXT_CHARS = 2_000
SEARCH_STRATEGY = "exact"  # "exact" (per-NPC exact distance) or "hnsw" (filtered HNSW scan), see above
HNSW_EF_SEARCH = 1_000  # pgvector's maximum; the filtered scan needs all it can get
# for the "hnsw" strategy's transaction: the largest candidate list, and no plan that avoids the index
HNSW_SETTINGS = (f"SET LOCAL hnsw.ef_search = {HNSW_EF_SEARCH}", "SET LOCAL enable_seqscan = off",
                 "SET LOCAL enable_bitmapscan = off")

# -- reflection -----------------------------------------------------------------------------------
REFLECTION_THRESHOLD = 150.0  # summed importance since the last reflection (BRIEF §5)
REFLECTION_SOURCE_LIMIT = 100  # most important memories since the last reflection considered
MAX_REFLECTIONS = 3  # per reflection round, like the paper's few insights per round
MIN_EVIDENCE = 2  # a pattern needs at least two memories

# -- retention ------------------------------------------------------------------------------------
# Reflections and semantic memories (facts) are kept. Episodic memories fade: after
# EPISODIC_MAX_AGE_DAYS those below EPISODIC_KEEP_IMPORTANCE go (what mattered stays), and an NPC
# keeps at most EPISODIC_CAP_PER_NPC, dropping the least important, oldest first. A reflection's
# text summarises its evidence, so its `evidence` ids may outlive the rows they name.
EPISODIC_MAX_AGE_DAYS = 30
EPISODIC_KEEP_IMPORTANCE = 5
EPISODIC_CAP_PER_NPC = 1_000
DELETE_BATCH = 5_000  # short transactions: retention runs beside live traffic
# under the cpu queue's 12 s soft limit (celeryconfig.QUEUES); a bigger backlog goes in the next runs
RETENTION_BUDGET_S = 8.0

KINDS = {choice.value for choice in Memory.Kind}
TABLE = Memory._meta.db_table


# -- importance rules -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    topic: str
    score: int
    pattern: re.Pattern[str]
    mood: int  # +1 the NPC would think well of whoever did it, -1 badly, 0 neither


def _rule(topic: str, score: int, mood: int, words: str) -> Rule:
    return Rule(topic, score, re.compile(rf"\b(?:{words})", re.IGNORECASE), mood)


RULES: tuple[Rule, ...] = (
    _rule("death", 9, 0, r"died\b|dead\b|death|killed|murder|slain|funeral|passed away"),
    _rule("threat", 8, -1, r"threat|attack|ambush|kill you|stab|rob|robbed|stole|steal|thief|betray|"
                           r"kidnap|burn(?:ed|t)? down"),
    _rule("rescue", 8, +1, r"saved|rescued|protected|healed|defended"),
    _rule("quest_done", 7, +1, r"completed|finished the|returned with|delivered|brought back|"
                               r"fulfilled|kept (?:his|her|their) promise"),
    _rule("gift", 6, +1, r"gave me|gift|present(?:ed)?\b|donat|offered me|handed me|paid me"),
    _rule("insult", 6, -1, r"insult|mock|spat|laughed at|lied|cheat|swindl|rude|threw"),
    _rule("quest", 5, 0, r"quest|task|errand|mission|asked me to|accepted"),
    _rule("first_meeting", 5, 0, r"first time|never met|introduced|new face|for the first"),
    _rule("trade", 4, 0, r"bought|sold|traded|haggl|bargain|price"),
    _rule("small_talk", 2, 0, r"weather|hello|greet|waved|nodded|chatted|good morning|good evening"),
)
MONEY = re.compile(r"(\d[\d,_]*)\s*(?:z\b|zeny)", re.IGNORECASE)
DEFAULT_IMPORTANCE = 3


def topics(text: str) -> list[Rule]:
    """The rules a text matches, most important first."""
    return sorted((rule for rule in RULES if rule.pattern.search(text)), key=lambda rule: -rule.score)


def _money_score(text: str) -> int:
    amounts = [int(re.sub(r"[,_]", "", m)) for m in MONEY.findall(text)]
    if not amounts:
        return 0
    # 100 z is pocket change, 1M z a fortune: one point per factor of ten from 10 zeny, capped at 9
    return max(1, min(9, int(math.log10(max(max(amounts), 1)))))


def rate_importance(text: str) -> int:
    """Poignancy 1..10 by deterministic rules (the paper asks an LLM; this runs offline):

    - the highest-scoring topic matched: death 9; threat/violence/theft 8; rescue/healing 8;
      a quest completed 7; a gift 6; an insult/lie/cheat 6; a quest/errand 5; a first meeting 5;
      trade 4; small talk (greetings, weather) 2; nothing matched 3;
    - a zeny amount scores 1 per factor of ten from 10 z (100 z -> 2, 10,000 z -> 4, 1M z -> 6), and
      counts as a topic like the others;
    - +1 when two or more topics match (an event that is several things at once), +1 for an
      exclamation mark or a word in capitals of 4+ letters (shouting), clamped to 1..10.
    """
    matched = topics(text)
    scores = [rule.score for rule in matched]
    money = _money_score(text)
    if money:
        scores.append(money)
    score = max(scores) if scores else DEFAULT_IMPORTANCE
    if len(scores) >= 2:
        score += 1
    if "!" in text or re.search(r"\b[A-Z]{4,}\b", text):
        score += 1
    return max(1, min(10, score))


# -- remember ---------------------------------------------------------------------------------------
def _clean_text(text: object, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise PayloadError("invalid_text", f"{what} must be a non-empty string")
    text = text.strip()
    if len(text) > MAX_TEXT_CHARS:
        raise PayloadError("text_too_long", f"{what} has {len(text)} characters; at most {MAX_TEXT_CHARS}")
    return text


def remember(npc: NPC, text: str, *, player: PlayerCharacter | None = None, kind: str = "episodic",
             importance: int | None = None) -> Memory:
    """Store one memory of `npc` (about `player`, if given); importance None -> rate_importance()."""
    text = _clean_text(text, "memory text")
    if kind not in KINDS:
        raise PayloadError("invalid_kind", f"memory kind {kind!r} is not one of {sorted(KINDS)}")
    if importance is None:
        importance = rate_importance(text)
    elif isinstance(importance, bool) or not isinstance(importance, int) or not 1 <= importance <= 10:
        raise PayloadError("invalid_importance", f"importance must be an integer 1..10, got {importance!r}")
    vector = embeddings.embed_one(text)
    with transaction.atomic():
        memory = Memory.objects.create(npc=npc, player=player, kind=kind, text=text, importance=importance,
                                       embedding=vector)
        # reflections do not count towards the next reflection (they would trigger one another)
        if kind != Memory.Kind.REFLECTION:
            NPC.objects.filter(pk=npc.pk).update(importance_since_reflection=F("importance_since_reflection")
                                                 + importance)
    return memory


# -- retrieve ---------------------------------------------------------------------------------------
_COLUMNS = "id, npc_id, player_id, kind, text, importance, evidence, created_at, last_accessed, access_count"
_COLUMNS_M = ", ".join(f"m.{column}" for column in _COLUMNS.split(", "))


def _vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def candidate_query(npc_id: int, query_vector: np.ndarray, n: int, *, player_id: int | None = None,
                    strategy: str | None = None) -> tuple[str, list[object]]:
    """SQL and parameters of candidates() (also EXPLAINed by bench/memory.py)."""
    strategy = strategy or SEARCH_STRATEGY
    where = ["npc_id = %s"]
    params: list[object] = [_vector_literal(query_vector), npc_id]
    if player_id is not None:
        where.append("(player_id = %s OR player_id IS NULL)")
        params.append(player_id)
    if strategy == "exact":
        # Two steps in one statement. The nearest n ids come from an index-only scan of memory_npc_vectors
        # (npc_id, player_id; id, embedding): the NPC's vectors lie together there. "+ 0" keeps the planner
        # off the HNSW index (it only matches a bare `embedding <=> q`). Then only those n rows are read.
        sql = (f"SELECT {_COLUMNS_M}, nearest.distance FROM (SELECT id, distance FROM ("
               f"SELECT id, embedding <=> %s::vector AS distance FROM {TABLE} WHERE {' AND '.join(where)}"
               f") AS scored ORDER BY distance + 0 LIMIT %s) AS nearest JOIN {TABLE} AS m ON m.id = nearest.id "
               "ORDER BY nearest.distance")
        return sql, [*params, n]
    if strategy != "hnsw":
        raise ValueError(f"unknown search strategy {strategy!r}")
    # the planner prefers an npc_id index for a selective NPC (it did at 1M rows); "+ 0" hides those
    # indexes so that this strategy really is the filtered HNSW scan. The subquery is pulled up by the
    # planner; it only lets ORDER BY name the distance once.
    where[0] = "npc_id + 0 = %s"
    sql = (f"SELECT * FROM (SELECT {_COLUMNS}, embedding <=> %s::vector AS distance FROM {TABLE} "
           f"WHERE {' AND '.join(where)}) AS nearest ORDER BY distance LIMIT %s")
    return sql, [*params, n]


def candidates(npc_id: int, query_vector: np.ndarray, n: int, *, player_id: int | None = None,
               strategy: str | None = None) -> list[Memory]:
    """The n memories of the NPC nearest to the query (cosine), each with a `distance` attribute; with a
    player_id only that player's and the general ones. The embedding column is not read (raw() defers
    what it does not select)."""
    strategy = strategy or SEARCH_STRATEGY
    sql, params = candidate_query(npc_id, query_vector, n, player_id=player_id, strategy=strategy)
    if strategy == "exact":
        return list(Memory.objects.raw(sql, params))
    with transaction.atomic():
        with connection.cursor() as cursor:
            for statement in HNSW_SETTINGS:
                cursor.execute(statement)
        return list(Memory.objects.raw(sql, params))


def _min_max(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.zeros_like(values)  # a part that is equal for all candidates decides nothing
    return (values - low) / (high - low)


def score(memories: list[Memory], now: datetime) -> np.ndarray:
    """Generative Agents' retrieval score of candidates that carry a `distance` attribute."""
    hours = np.array([max((now - m.last_accessed).total_seconds(), 0.0) / 3600 for m in memories])
    recency = RECENCY_DECAY_PER_HOUR ** hours
    relevance = 1.0 - np.array([m.distance for m in memories], dtype=np.float64)
    importance = np.array([m.importance for m in memories], dtype=np.float64)
    return (W_RECENCY * _min_max(recency) + W_RELEVANCE * _min_max(relevance)
            + W_IMPORTANCE * _min_max(importance))


def _mark_accessed(ids: list[int], now: datetime) -> None:
    """One UPDATE. No index covers last_accessed/access_count and the table keeps a quarter of each page
    free (migration 0003; a row is ~1.2 KB), so PostgreSQL writes the new row versions on the same page
    (HOT) without touching any index, the HNSW graph included (docs/benchmarks.md)."""
    Memory.objects.filter(pk__in=ids).update(last_accessed=now, access_count=F("access_count") + 1)


def retrieve(npc: NPC, query: str, *, player: PlayerCharacter | None = None, k: int = 10) -> list[Memory]:
    """The k memories of `npc` that best answer `query`, best first.

    With a player: that player's memories and the NPC's general ones (never another player's); without
    one: all of the NPC's memories. Returned memories count as accessed (last_accessed = now)."""
    query = _clean_text(query, "query")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise PayloadError("invalid_k", f"k must be an integer 1..{MAX_K}, got {k!r}")
    pool = candidates(npc.pk, embeddings.embed_one(query), OVERFETCH * k,
                      player_id=player.pk if player is not None else None)
    if not pool:
        return []
    now = timezone.now()
    order = np.argsort(-score(pool, now), kind="stable")[:k]
    chosen = [pool[i] for i in order]
    _mark_accessed([m.pk for m in chosen], now)
    for memory in chosen:
        memory.last_accessed = now
        memory.access_count += 1
    return chosen


# -- reflection -------------------------------------------------------------------------------------
_TIMES = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times",
          7: "seven times", 8: "eight times", 9: "nine times", 10: "ten times"}
# what an NPC concludes from several general (no player) memories on one topic
_TOPIC_SENTENCES = {
    "death": "Death has come close lately; {n} losses weigh on me.",
    "threat": "These parts have grown dangerous: attacks and thefts came up {times} lately.",
    "rescue": "There is still kindness here: people saved or healed others {times} lately.",
    "quest_done": "Adventurers get things done: work was finished {times} lately.",
    "gift": "People have been generous: gifts came my way {times} lately.",
    "insult": "Tempers are short around here: I saw rudeness and lies {times} lately.",
    "quest": "There is much that needs doing: requests came up {times} lately.",
    "first_meeting": "Many new faces pass through: I met strangers {times} lately.",
    "trade": "Trade is lively: I bargained and dealt {times} lately.",
    "small_talk": "Days have been quiet: mostly small talk, {times} lately.",
}


@dataclass
class Draft:
    text: str
    evidence: list[Memory]
    player: PlayerCharacter | None = None

    @property
    def weight(self) -> int:
        return sum(m.importance for m in self.evidence)


def _times(n: int) -> str:
    return _TIMES.get(n, f"{n} times")


def _mood(text: str) -> int:
    """+1 / -1 from the most important rule with a mood, 0 if none has one."""
    for rule in topics(text):
        if rule.mood:
            return rule.mood
    return 0


def draft_reflections(memories: list[Memory]) -> list[Draft]:
    """Template reflections from memories (offline stand-in for the paper's LLM questions and insights):
    per player, trust or distrust when one mood dominates, else that they keep coming up; per topic of
    the general memories, a sentence from _TOPIC_SENTENCES. At most MAX_REFLECTIONS, weightiest first;
    if no pattern has MIN_EVIDENCE memories, one reflection on the most important memories."""
    by_player: dict[int, list[Memory]] = {}
    by_topic: dict[str, list[Memory]] = {}
    for memory in memories:
        if memory.player_id is not None:
            by_player.setdefault(memory.player_id, []).append(memory)
        else:
            matched = topics(memory.text)
            if matched:
                by_topic.setdefault(matched[0].topic, []).append(memory)
    drafts: list[Draft] = []
    for group in by_player.values():
        if len(group) < MIN_EVIDENCE:
            continue
        player, name = group[0].player, group[0].player.name
        good = [m for m in group if _mood(m.text) > 0]
        bad = [m for m in group if _mood(m.text) < 0]
        if len(good) >= MIN_EVIDENCE and len(good) > len(bad):
            drafts.append(Draft(f"I have come to trust {name}: they did right by me {_times(len(good))}.", good,
                                player))
        elif len(bad) >= MIN_EVIDENCE and len(bad) > len(good):
            drafts.append(Draft(f"I do not trust {name}: they wronged me {_times(len(bad))}.", bad, player))
        else:
            drafts.append(Draft(f"{name} keeps coming back to mind: we dealt with each other "
                                f"{_times(len(group))} lately.", group, player))
    for topic, group in by_topic.items():
        if len(group) >= MIN_EVIDENCE:
            drafts.append(Draft(_TOPIC_SENTENCES[topic].format(n=len(group), times=_times(len(group))), group))
    drafts.sort(key=lambda d: -d.weight)
    if not drafts and memories:
        top = sorted(memories, key=lambda m: -m.importance)[:3]
        drafts.append(Draft("What stays with me most from lately: " + " / ".join(m.text for m in top), top))
    return drafts[:MAX_REFLECTIONS]


def maybe_reflect(npc: NPC) -> list[Memory]:
    """Reflect if the NPC's summed importance since its last reflection has reached the threshold.

    The counter is claimed with a conditional UPDATE (reset to 0 only if still at or over the threshold)
    inside the transaction that writes the reflections: a second worker blocks on the row, then finds it
    under the threshold and returns [] (two workers never reflect twice); a failure rolls the claim back."""
    with transaction.atomic():
        claimed = NPC.objects.filter(pk=npc.pk, importance_since_reflection__gte=REFLECTION_THRESHOLD).update(
            importance_since_reflection=0.0)
        if not claimed:
            return []
        last = (Memory.objects.filter(npc_id=npc.pk, kind=Memory.Kind.REFLECTION)
                .order_by("-created_at").values_list("created_at", flat=True).first())
        sources = Memory.objects.filter(npc_id=npc.pk).exclude(kind=Memory.Kind.REFLECTION).defer("embedding")
        if last is not None:
            sources = sources.filter(created_at__gt=last)
        memories = list(sources.select_related("player").order_by("-importance", "-created_at")
                        [:REFLECTION_SOURCE_LIMIT])
        drafts = draft_reflections(memories)
        if not drafts:
            return []
        vectors = embeddings.embed([d.text for d in drafts])
        reflections = [
            Memory(npc_id=npc.pk, player=d.player, kind=Memory.Kind.REFLECTION, text=d.text[:MAX_TEXT_CHARS],
                   importance=min(10, round(d.weight / len(d.evidence)) + 1), embedding=vector,
                   evidence=[m.pk for m in d.evidence])
            for d, vector in zip(drafts, vectors, strict=True)
        ]
        created = Memory.objects.bulk_create(reflections)
    npc.importance_since_reflection = 0.0
    return created


def reflect_due(limit: int = 200) -> int:
    """maybe_reflect() for NPCs at or over the threshold (at most `limit` per call); reflections made."""
    due = NPC.objects.filter(importance_since_reflection__gte=REFLECTION_THRESHOLD).order_by(
        "-importance_since_reflection")[:limit]
    return sum(len(maybe_reflect(npc)) for npc in due)


# -- retention --------------------------------------------------------------------------------------
def _delete_in_batches(select_ids_sql: str, params: list[object], deadline: float) -> int:
    """Run `DELETE ... WHERE id IN (<select_ids_sql> LIMIT batch)` until a batch comes back short or the
    deadline (time.monotonic()) passes."""
    deleted = 0
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE} WHERE id IN ({select_ids_sql} LIMIT %s)", [*params, DELETE_BATCH])
            count = cursor.rowcount
        deleted += count
        if count < DELETE_BATCH:
            break
    return deleted


def apply_retention(now: datetime | None = None) -> dict[str, int]:
    """Delete faded episodic memories; counts per reason: `aged` (older than EPISODIC_MAX_AGE_DAYS and
    less important than EPISODIC_KEEP_IMPORTANCE), `over_cap` (beyond EPISODIC_CAP_PER_NPC for an NPC,
    least important first, then oldest). Reflections and semantic memories are never deleted here.
    Stops after RETENTION_BUDGET_S; the rest is deleted by the next call."""
    now = now or timezone.now()
    deadline = time.monotonic() + RETENTION_BUDGET_S
    episodic = Memory.Kind.EPISODIC.value
    aged = _delete_in_batches(
        f"SELECT id FROM {TABLE} WHERE kind = %s AND created_at < %s AND importance < %s",
        [episodic, now - timedelta(days=EPISODIC_MAX_AGE_DAYS), EPISODIC_KEEP_IMPORTANCE], deadline)
    over_cap = _delete_in_batches(
        f"SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY npc_id ORDER BY importance DESC, "
        f"created_at DESC, id DESC) AS rank FROM {TABLE} WHERE kind = %s AND npc_id IN ("
        f"SELECT npc_id FROM {TABLE} WHERE kind = %s GROUP BY npc_id HAVING count(*) > %s)) AS ranked "
        f"WHERE rank > %s",
        [episodic, episodic, EPISODIC_CAP_PER_NPC, EPISODIC_CAP_PER_NPC], deadline)
    return {"aged": aged, "over_cap": over_cap}
