"""NPC memory retrieval at scale: top-10 retrieve() latency over --memories memories, and recall.

    python -m aiworld.launcher exec --fresh -- python bench/memory.py                  # 1,000,000 memories
    python -m aiworld.launcher exec --fresh -- python bench/memory.py --small          # a check, ~1 min
    AIWORLD_DATA_DIR=/tmp/membench python -m aiworld.launcher exec -- python bench/memory.py --reuse
        # loads once into a kept data folder; later runs time queries on the same table
    ... bench/memory.py --reuse --drop-os-cache [--prewarm]
        # a fully cold start (root: the kernel drops its page cache), with or without the prewarm
        # that a cpu worker runs after a start (aiworld.npc.memory_prewarm), timed

Target: top-10 retrieval p95 <= 20 ms with 1,000,000 memories.

1. Generates --memories memories over --npcs NPCs and --players players: template sentences x names x
   items x places x numbers (so texts are varied and mostly unique), importance by rate_importance(),
   a quarter of them general (no player), created over the last 60 days.
2. Embeds them in batches (aiworld.npc.embeddings, the local WordLlama model) and bulk-loads them with
   COPY, with the HNSW index dropped; then CREATE INDEX (m=16, ef_construction=64, the migration's
   definition) with maintenance_work_mem = --maintenance-work-mem, timed.
3. Times --queries calls of retrieve(npc, query, player=..., k=10) (half with a player) on fresh query
   texts: embedding of the query, candidate search, re-ranking and the last_accessed UPDATE, end to end.
   Then, on --queries other queries to the other half of the NPCs, each candidate-search strategy
   (aiworld.npc.memory.SEARCH_STRATEGY) is timed, alternating, and its plan is shown; recall@10 of the
   filtered HNSW scan vs exact search is measured on --recall-sample of them.
4. Times apply_retention() on the loaded table.

--no-hnsw (or its older name --proposed-schema) leaves the HNSW index out: what every write costs
without it. The access-update fix first measured with it (no index on last_accessed, free space on
each page for HOT updates) is in migration 0003.

Reads and writes only the launcher's embedded database (loopback); it deletes this script's rows first.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiworld.settings")
import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from aiworld.models.npc import NPC, Memory, PlayerCharacter  # noqa: E402
from aiworld.npc import embeddings, memory_prewarm  # noqa: E402
from aiworld.npc import memory as mem  # noqa: E402

NPC_GAME_ID_BASE = 9_000_000  # this script's NPCs, far from any real game id
SERVER = "bench-memory"
HNSW_INDEX = "memory_embedding_hnsw"
HNSW_DDL = (f"CREATE INDEX {HNSW_INDEX} ON {mem.TABLE} USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)")

FIRST = ["Alice", "Bjorn", "Chen", "Dara", "Eitri", "Fay", "Goran", "Hana", "Ivo", "Juno", "Kael", "Lyra", "Mato",
         "Nia", "Oskar", "Pim", "Quinn", "Rhea", "Sven", "Tala", "Ulla", "Vik", "Wren", "Xan", "Yuki", "Zed"]
LAST = ["Stone", "Reed", "Ash", "Vale", "Thorn", "Frost", "Marsh", "Hale", "Crow", "Dune"]
ITEMS = ["Red Potion", "Orange Potion", "White Potion", "Blue Potion", "Jellopy", "Fluff", "Apple", "Carrot",
         "Iron Ore", "Elunium", "Oridecon", "Emperium", "Yggdrasil Berry", "Poring Card", "Sword", "Katana",
         "Bow", "Arrow", "Wooden Shield", "Leather Boots", "Silk Robe", "Ruby", "Sapphire", "Old Blue Box",
         "Butterfly Wing", "Fly Wing", "Honey", "Royal Jelly", "Cheese", "Meat", "Grape Juice", "Holy Water"]
PLACES = ["Prontera", "Geffen", "Payon", "Morroc", "Alberta", "Izlude", "Aldebaran", "Comodo", "Lutie", "Juno",
          "Einbroch", "Lighthalzen", "the Orc Village", "the Sphinx", "the Glast Heim ruins", "the Payon cave",
          "the Byalan island", "the Prontera fountain", "the south gate", "the guild castle", "the market square"]
MONSTERS = ["Poring", "Lunatic", "Orc Warrior", "Baphomet", "Osiris", "Drake", "Golden Thief Bug", "Moonlight",
            "Eddga", "Mistress", "Zombie", "Skeleton", "Hornet", "Wolf", "Goblin", "Kobold"]
TEMPLATES = [
    "{who} bought {n} {item} from me at {place}",
    "{who} sold me {n} {item} for {z} zeny",
    "{who} gave me a {item} as a gift near {place}",
    "{who} asked me about the road to {place}",
    "{who} completed my errand and brought back {n} {item}",
    "{who} insulted my prices in front of customers at {place}",
    "{who} threatened me when I refused to lower the price of {item}",
    "{who} told me a {monster} was seen near {place}",
    "{who} said good morning and talked about the weather in {place}",
    "{who} introduced themselves for the first time at {place}",
    "{who} accepted the quest to hunt {n} {monster} near {place}",
    "{who} saved me from a {monster} outside {place}",
    "{who} stole a {item} from my stall in {place}",
    "{who} lied about where they found the {item}",
    "{who} paid me {z} zeny to repair a {item}",
    "A {monster} attacked travellers on the way to {place}",
    "The price of {item} went up in {place} this week",
    "A merchant from {place} died of fever",
    "Rumours say a {monster} guards a {item} in {place}",
    "The guards of {place} are looking for a thief who took a {item}",
    "It rained all day in {place} and nobody came to the shop",
    "A caravan carrying {item} was ambushed near {place}",
    "The festival in {place} starts in {n} days",
    "I found {n} {item} while cleaning the storeroom",
]
QUERIES = [
    "Do you remember {who}?", "Have you seen any {monster} around {place}?", "Where can I buy {item}?",
    "What happened in {place} lately?", "How much does a {item} cost?", "Who stole from you?",
    "Any news about {monster}?", "Can you help me find a {item}?", "Did anyone give you a gift?",
    "Is the road to {place} safe?",
]


def fill(template: str, rng: np.random.Generator, who: str) -> str:
    return template.format(who=who, item=ITEMS[rng.integers(len(ITEMS))], place=PLACES[rng.integers(len(PLACES))],
                           monster=MONSTERS[rng.integers(len(MONSTERS))], n=int(rng.integers(2, 40)),
                           z=int(rng.choice([50, 120, 800, 2_500, 15_000, 90_000, 1_000_000])))


def player_name(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}{i // (len(FIRST) * len(LAST)) or ''}"


def percentiles(values: list[float]) -> str:
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms, mean {np.mean(values):.2f} ms"


def setup(npcs: int, players: int) -> tuple[list[int], list[int], list[str]]:
    Memory.objects.filter(npc__game_id__gte=NPC_GAME_ID_BASE).delete()
    NPC.objects.filter(game_id__gte=NPC_GAME_ID_BASE).delete()
    PlayerCharacter.objects.filter(server=SERVER).delete()
    NPC.objects.bulk_create(NPC(game_id=NPC_GAME_ID_BASE + i, name=f"Bench NPC {i}") for i in range(npcs))
    PlayerCharacter.objects.bulk_create(PlayerCharacter(server=SERVER, char_id=i, name=player_name(i))
                                        for i in range(players))
    npc_ids = list(NPC.objects.filter(game_id__gte=NPC_GAME_ID_BASE).order_by("game_id").values_list("pk", flat=True))
    player_rows = PlayerCharacter.objects.filter(server=SERVER).order_by("char_id").values_list("pk", "name")
    return npc_ids, [pk for pk, _ in player_rows], [name for _, name in player_rows]


def existing(npcs: int) -> tuple[list[int], list[int], list[str]]:
    """The NPCs and players an earlier run of this script made (--reuse)."""
    npc_ids = list(NPC.objects.filter(game_id__gte=NPC_GAME_ID_BASE).order_by("game_id").values_list("pk", flat=True))
    if len(npc_ids) != npcs:
        raise SystemExit(f"--reuse: {len(npc_ids)} NPCs of an earlier run, --npcs says {npcs}")
    player_rows = PlayerCharacter.objects.filter(server=SERVER).order_by("char_id").values_list("pk", "name")
    return npc_ids, [pk for pk, _ in player_rows], [name for _, name in player_rows]


def load(args: argparse.Namespace, npc_ids: list[int], player_ids: list[int], names: list[str],
         rng: np.random.Generator) -> dict[str, float]:
    """Generate, embed and COPY the memories; returns seconds per phase."""
    times = {"generate": 0.0, "embed": 0.0, "copy": 0.0}
    now = datetime.datetime.now(datetime.UTC)
    # each NPC meets a few dozen players: memories of one NPC spread over its own acquaintances
    acquaintances = rng.integers(0, len(player_ids), size=(len(npc_ids), 40))
    columns = "npc_id, player_id, kind, text, importance, embedding, evidence, created_at, last_accessed, access_count"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
    raw = connection.connection  # psycopg2 connection, for copy_expert
    with tqdm(total=args.memories, desc="load", unit="mem", mininterval=5) as bar:
        for start in range(0, args.memories, args.batch):
            size = min(args.batch, args.memories - start)
            t0 = time.perf_counter()
            npc_index = rng.integers(0, len(npc_ids), size=size)
            general = rng.random(size) < 0.25
            player_pick = acquaintances[npc_index, rng.integers(0, 40, size=size)]
            templates = rng.integers(0, len(TEMPLATES), size=size)
            texts, player_col = [], []
            for i in range(size):
                template = TEMPLATES[templates[i]]
                if general[i] or not template.startswith("{who}"):
                    texts.append(fill(template, rng, names[rng.integers(len(names))]))
                    player_col.append("\\N")
                else:
                    texts.append(fill(template, rng, names[player_pick[i]]))
                    player_col.append(str(player_ids[player_pick[i]]))
            importance = [mem.rate_importance(text) for text in texts]
            age_s = rng.uniform(0, 60 * 86_400, size=size)
            accessed_s = age_s * rng.random(size)
            t1 = time.perf_counter()
            vectors = np.round(embeddings.embed(texts).astype(np.float64), 6)
            t2 = time.perf_counter()
            out = io.StringIO()
            for i in range(size):
                created = (now - datetime.timedelta(seconds=float(age_s[i]))).isoformat()
                accessed = (now - datetime.timedelta(seconds=float(accessed_s[i]))).isoformat()
                # str(list of floats) is the vector text format '[v1, v2, ...]' (pgvector skips spaces)
                out.write(f"{npc_ids[npc_index[i]]}\t{player_col[i]}\tepisodic\t{texts[i]}\t{importance[i]}\t"
                          f"{vectors[i].tolist()}\t[]\t{created}\t{accessed}\t0\n")
            out.seek(0)
            with raw.cursor() as cursor:
                cursor.copy_expert(f"COPY {mem.TABLE} ({columns}) FROM STDIN", out)
            raw.commit()
            t3 = time.perf_counter()
            times["generate"] += t1 - t0
            times["embed"] += t2 - t1
            times["copy"] += t3 - t2
            bar.update(size)
    return times


def build_index(maintenance_work_mem: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + mem.TABLE)
        cursor.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
        t0 = time.perf_counter()
        cursor.execute(HNSW_DDL)
        elapsed = time.perf_counter() - t0
        cursor.execute("RESET maintenance_work_mem")
    return elapsed


def make_queries(count: int, npc_ids: list[int], player_ids: list[int], names: list[str],
                 rng: np.random.Generator) -> list[tuple[int, int | None, str]]:
    queries = []
    for _ in range(count):
        npc_id = npc_ids[rng.integers(len(npc_ids))]
        player_index = int(rng.integers(len(player_ids)))
        with_player = rng.random() < 0.5
        text = fill(QUERIES[rng.integers(len(QUERIES))], rng, names[player_index]) + f" ({rng.integers(1e9)})"
        queries.append((npc_id, player_ids[player_index] if with_player else None, text))
    return queries


def plan(strategy: str, npc_id: int, vector: np.ndarray) -> str:
    """The candidate query's plan nodes, as EXPLAIN shows them."""
    sql, params = mem.candidate_query(npc_id, vector, 10 * mem.OVERFETCH, strategy=strategy)
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        if strategy == "hnsw":
            for statement in mem.HNSW_SETTINGS:
                cursor.execute(statement)
        # ANALYZE runs it (read-only) for the pages it touched: Buffers shared hit/read, Heap Fetches
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
        lines = [row[0] for row in cursor.fetchall()]
        cursor.execute("COMMIT")
    keep = ("->", "Heap Fetches", "Buffers", "Execution Time")
    return " / ".join(line.strip() for line in lines if any(word in line for word in keep) or line == lines[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memories", type=int, default=1_000_000)
    parser.add_argument("--npcs", type=int, default=1_000)
    parser.add_argument("--players", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--recall-sample", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--maintenance-work-mem", default="3GB")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--small", action="store_true", help="20,000 memories over 20 NPCs, 200 queries")
    parser.add_argument("--no-hnsw", action="store_true",
                        help="leave the HNSW index dropped: what every write and access update costs without it")
    parser.add_argument("--reuse", action="store_true",
                        help="skip the load when the table already holds --memories of this script's memories "
                             "(run with a persistent AIWORLD_DATA_DIR and without --fresh)")
    parser.add_argument("--drop-os-cache", action="store_true",
                        help="before timing, have the kernel drop its page cache (root only): a fully cold start")
    parser.add_argument("--prewarm", action="store_true",
                        help="before timing, run the NPC memory prewarm a cpu worker runs at start (timed)")
    parser.add_argument("--proposed-schema", action="store_true",
                        help="the same as --no-hnsw (kept for the commands in docs/benchmarks.md)")
    args = parser.parse_args()
    args.no_hnsw = args.no_hnsw or args.proposed_schema
    if args.small:
        args.memories, args.npcs, args.players, args.queries, args.recall_sample = 20_000, 20, 200, 200, 100
    rng = np.random.default_rng(args.seed)
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        pgvector_version = cursor.fetchone()[0]
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"PostgreSQL {pg_version}, pgvector {pgvector_version}")
    print(f"{args.memories:,} memories, {args.npcs:,} NPCs, {args.players:,} players, {args.queries:,} queries")

    strategies = ("exact",) if args.no_hnsw else ("exact", "hnsw")
    loaded = Memory.objects.filter(npc__game_id__gte=NPC_GAME_ID_BASE).count()
    if args.reuse and loaded == args.memories:
        # a persistent AIWORLD_DATA_DIR from an earlier run: time queries on the same table (after a server
        # start: shared_buffers are cold, as after any restart)
        print(f"--reuse: {loaded:,} memories already loaded")
        npc_ids, player_ids, names = existing(args.npcs)
        build_s = None
        rng = np.random.default_rng(args.seed + loaded)  # other queries than the first run's
    else:
        npc_ids, player_ids, names = setup(args.npcs, args.players)
        if args.proposed_schema:
            print("what-if (not migrated): no HNSW index")
        phases = load(args, npc_ids, player_ids, names, rng)
        print("load: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()))
        build_s = None if args.no_hnsw else build_index(args.maintenance_work_mem)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE " + mem.TABLE)
        # Flush the bulk load's ~2 GB of dirty pages and WAL now: otherwise the checkpoint it forces runs
        # during the timed queries and every commit (the access UPDATE) waits behind its fsyncs.
        cursor.execute("CHECKPOINT")
        cursor.execute(f"SELECT count(*), pg_size_pretty(pg_total_relation_size('{mem.TABLE}')), "
                       f"pg_size_pretty(coalesce(pg_relation_size(to_regclass('{HNSW_INDEX}')), 0)) FROM {mem.TABLE}")
        rows, table_size, index_size = cursor.fetchone()
    if build_s is None:
        kept = "no HNSW index (--no-hnsw)" if args.no_hnsw else f"HNSW index {index_size} (an earlier run built it)"
        print(f"{kept}; {rows:,} rows, table+indexes {table_size}")
    else:
        print(f"HNSW build (m=16, ef_construction=64, maintenance_work_mem={args.maintenance_work_mem}): "
              f"{build_s:.1f} s; {rows:,} rows, table+indexes {table_size}, HNSW index {index_size}")

    if args.drop_os_cache:
        try:
            os.sync()
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        except OSError as exc:
            raise SystemExit(f"--drop-os-cache needs root on Linux: {exc}") from exc
        print("OS page cache dropped (PostgreSQL was started by this run: its shared_buffers hold only what the "
              "VACUUM ANALYZE above read)")
    if args.prewarm:
        t0 = time.perf_counter()
        outcome = memory_prewarm.warm_through(step_s=60.0)
        found = memory_prewarm.sizes()
        print(f"prewarm: about {outcome.bytes_read / 2**20:,.0f} MB (primary key, {outcome.npcs:,} NPCs' vectors, "
              f"rows) in {time.perf_counter() - t0:.1f} s, stopped: {outcome.reason} in phase {outcome.phase}; "
              f"shared_buffers {found.shared_buffers / 2**20:,.0f} MB, relations {found.total / 2**20:,.0f} MB")

    # retrieve() and the strategy comparison run on disjoint halves of the NPCs, so that neither finds
    # the other's pages in shared_buffers (an NPC's rows are spread over ~1,000 pages)
    queries = make_queries(args.queries, npc_ids[0::2], player_ids, names, rng)
    compared = make_queries(args.queries, npc_ids[1::2], player_ids, names, rng)
    npcs = NPC.objects.in_bulk(npc_ids)
    players = PlayerCharacter.objects.in_bulk(player_ids)
    vectors = embeddings.embed([text for _, _, text in compared])
    for strategy in strategies:
        print(f"plan {strategy}: {plan(strategy, compared[0][0], vectors[0])}")

    # warm-up: the first queries pay for loading the embedding model and cold pages
    for npc_id, player_id, text in make_queries(20, npc_ids, player_ids, names, rng):
        mem.retrieve(npcs[npc_id], text, player=players.get(player_id), k=10)

    timings: dict[str, list[float]] = {"retrieve": [], "access update": [], **{name: [] for name in strategies}}
    mark_accessed = mem._mark_accessed

    def timed_mark_accessed(ids: list[int], now: datetime.datetime) -> None:
        # instrumentation only: the same function, timed, to show what the access bookkeeping costs
        t0 = time.perf_counter()
        mark_accessed(ids, now)
        timings["access update"].append((time.perf_counter() - t0) * 1000)

    mem._mark_accessed = timed_mark_accessed
    for npc_id, player_id, text in tqdm(queries, desc="retrieve", mininterval=5):
        t0 = time.perf_counter()
        mem.retrieve(npcs[npc_id], text, player=players.get(player_id), k=10)
        timings["retrieve"].append((time.perf_counter() - t0) * 1000)
    mem._mark_accessed = mark_accessed
    for i, (npc_id, player_id, _) in enumerate(tqdm(compared, desc="strategies", mininterval=5)):
        # alternate the order of the two strategies so neither always runs on warmer pages
        for strategy in (strategies if i % 2 == 0 else strategies[::-1]):
            t0 = time.perf_counter()
            mem.candidates(npc_id, vectors[i], 10 * mem.OVERFETCH, player_id=player_id, strategy=strategy)
            timings[strategy].append((time.perf_counter() - t0) * 1000)
    print(f"retrieve(k=10) end to end, strategy {mem.SEARCH_STRATEGY!r}: {percentiles(timings['retrieve'])}")
    print(f"  of which the last_accessed UPDATE of the 10 returned: {percentiles(timings['access update'])}")
    for strategy in strategies:
        print(f"candidate search alone ({10 * mem.OVERFETCH} candidates), {strategy}: "
              f"{percentiles(timings[strategy])}")

    recalls, returned = [], []
    for i, (npc_id, player_id, _) in enumerate(compared[: 0 if args.no_hnsw else args.recall_sample]):
        truth = {m.pk for m in mem.candidates(npc_id, vectors[i], 10, player_id=player_id, strategy="exact")}
        found = [m.pk for m in mem.candidates(npc_id, vectors[i], 10, player_id=player_id, strategy="hnsw")]
        returned.append(len(found))
        recalls.append(len(truth & set(found)) / max(len(truth), 1))
    if recalls:
        print(f"recall@10 of the filtered HNSW scan (ef_search={mem.HNSW_EF_SEARCH}) vs exact, {len(recalls)} "
              f"queries: mean {np.mean(recalls):.3f}, rows returned mean {np.mean(returned):.1f} of 10")

    if args.reuse:
        print("apply_retention(): not run with --reuse (it would delete what the next run times)")
        return
    t0 = time.perf_counter()
    deleted = mem.apply_retention()
    print(f"apply_retention(): {(time.perf_counter() - t0):.1f} s, deleted {deleted}")


if __name__ == "__main__":
    main()
