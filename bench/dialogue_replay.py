"""Replay a player-chat corpus through the dialogue service and count the LLM calls it makes.

Real PostgreSQL and Valkey (run it through the launcher), the real dialogue service, the real
CrewAI + provider chain path, and a local OpenAI-compatible HTTP server as the LLM (no internet).
The corpus (bench/chat_corpus.py) knows which lines mean the same thing, so every reply reused from
a cache is judged: acceptable when it was written for a line of the same family.

    AIWORLD_ENV=test .venv/bin/python -m aiworld.launcher exec --fresh -- \\
        .venv/bin/python bench/dialogue_replay.py --lines 3000 --thresholds 0.85 0.9 0.93 0.96

The baseline is the system we replace: one LLM call per player line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiworld.settings")
os.environ["AIWORLD_DIALOGUE_PER_PLAYER"] = "1000000"  # the replay is faster than any player: no rate limit
os.environ["AIWORLD_DIALOGUE_PER_NPC"] = "1000000"
import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.core.management import call_command  # noqa: E402
from tqdm import tqdm  # noqa: E402

from aiworld.models import NPC, AgentRun, DialogueTurn, Memory, PlayerCharacter, Quest, Relationship  # noqa: E402
from aiworld.npc import dialogue  # noqa: E402
from aiworld.services import demo_world, kv  # noqa: E402
from bench.chat_corpus import generate  # noqa: E402
from tests.support.fake_llm import FakeLLM, configure_provider, last_user_text  # noqa: E402

PERSONAS = [
    dict(game_id=9001, name="Hilda", job_class="blacksmith", map="prontera", extraversion=0.8, agreeableness=0.7,
         altruism=0.6, lawful=0.6, honest=0.7, mood="happy"),
    dict(game_id=9002, name="Varg", job_class="guard", map="prontera", extraversion=0.3, agreeableness=0.3,
         altruism=0.0, lawful=0.9, honest=0.5, mood="suspicious"),
    dict(game_id=9003, name="Pip", job_class="merchant", map="payon", extraversion=0.9, agreeableness=0.6,
         altruism=-0.2, lawful=-0.1, honest=-0.3, mood="excited", quirks=["calls everyone 'friend'"]),
    dict(game_id=9004, name="Old Mara", job_class="herbalist", map="payon", extraversion=0.2, agreeableness=0.8,
         altruism=0.8, lawful=0.0, honest=0.9, mood="content"),
]
_PLAYER_TEXT = re.compile(r'"player_text":\s*"((?:[^"\\]|\\.)*)"')


def responder(body: dict) -> str:
    """What the local LLM answers to a dialogue prompt: a schema-valid reply about the player's line."""
    match = _PLAYER_TEXT.search(last_user_text(body))
    said = json.loads(f'"{match.group(1)}"') if match else "that"
    return json.dumps({"reply": f"Hmm, about '{said[:80]}': let me think. Ask around the square, traveller.",
                       "emotion": "neutral", "relationship_delta": 1, "offer_quest": False,
                       "memory": f"A traveller asked me: {said[:100]}", "importance": 3})


def reset_world() -> None:
    for model in (DialogueTurn, Memory, Relationship, Quest, AgentRun):
        model.objects.all().delete()
    NPC.objects.update(importance_since_reflection=0)
    client = kv.client()
    for pattern in ("dlg:*", "rl:*"):
        keys = list(client.scan_iter(pattern, count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start:start + 1000])


def replay(lines, npcs, players, fake: FakeLLM, label: str, seed: int) -> dict:
    rng = random.Random(seed)
    family_of = {line.text: line.family for line in lines}
    sources: Counter[str] = Counter()
    judged = Counter()
    latency_no_llm: list[float] = []
    latency_llm: list[float] = []
    requests_before = len(fake.chat_requests())
    calls_at: list[int] = []  # LLM requests made so far, after each line
    started = time.perf_counter()
    for i, line in enumerate(tqdm(lines, desc=f"replay {label}", unit="line")):
        npc, (char_id, name) = rng.choice(npcs), rng.choice(players)
        request = dialogue.DialogueRequest(server="bench", request_id=f"{label}-{i}", npc_game_id=npc,
                                           char_id=char_id, player_name=name, text=line.text, reply_to=None,
                                           reply_ttl_s=60)
        trace: dict = {}
        t0 = time.perf_counter()
        document = dialogue.respond(request, trace)
        elapsed = (time.perf_counter() - t0) * 1000
        source = document["source"]
        sources[source] += 1
        (latency_llm if source == "llm" else latency_no_llm).append(elapsed)
        calls_at.append(len(fake.chat_requests()) - requests_before)
        if "cached_from" in trace:
            ok = family_of.get(trace["cached_from"]) == line.family
            judged["acceptable" if ok else "wrong"] += 1
            judged[f"{source}:{'acceptable' if ok else 'wrong'}"] += 1
    calls = len(fake.chat_requests()) - requests_before
    hits = judged["acceptable"] + judged["wrong"]
    # the caches warm up: the reduction over the last fifth of the replay is the steady state of a
    # server whose players keep asking (cache entries live 24 h)
    tail = max(1, len(lines) // 5)
    steady = 1 - (calls_at[-1] - calls_at[-tail - 1]) / tail if len(calls_at) > tail else None
    # the warm-up, window by window (tenths of the replay): lines answered without an LLM call
    edges = np.linspace(0, len(lines), 11).astype(int)
    made = np.array([0, *calls_at])
    windows = [{"lines": f"{a + 1}-{b}", "reduction": 1 - (made[b] - made[a]) / (b - a)}
               for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
    return {
        "label": label, "lines": len(lines), "llm_http_requests": calls, "sources": dict(sources),
        "call_reduction": 1 - calls / len(lines), "steady_state_reduction": steady, "windows": windows,
        "calls_at": calls_at, "cache_hits": hits,
        "acceptable_hit_rate": judged["acceptable"] / hits if hits else None, "judged": dict(judged),
        "no_llm_ms": {p: float(np.percentile(latency_no_llm, p)) for p in (50, 95, 99)} if latency_no_llm else {},
        "llm_ms": {p: float(np.percentile(latency_llm, p)) for p in (50, 95, 99)} if latency_llm else {},
        "wall_s": time.perf_counter() - started,
    }


def plot_warm_up(curves: dict[str, list[int]], path: Path, window: int = 500) -> None:
    """Share of lines answered without an LLM call: over the replay so far, and over the last `window` lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, calls_at in curves.items():
        made = np.array([0, *calls_at], dtype=np.float64)
        n = np.arange(1, len(made))
        line, = ax.plot(n, 1 - made[1:] / n, label=f"{label}: whole replay so far")
        if len(made) > window:
            ax.plot(n[window - 1:], 1 - (made[window:] - made[:-window]) / window, linestyle="--",
                    color=line.get_color(), label=f"{label}: last {window} lines")
    ax.axhline(0.9, color="grey", linewidth=0.8, linestyle=":", label="target 90 %")
    ax.set(xlabel="player lines replayed", ylabel="lines answered without an LLM call", ylim=(0, 1),
           title="LLM calls saved as the caches warm up")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=3000, help="player lines replayed per pass")
    parser.add_argument("--players", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.93],
                        help="semantic-cache cosine thresholds, one pass each (same corpus, fresh caches)")
    parser.add_argument("--without-guard", type=float, nargs="*", default=[],
                        help="thresholds to replay once more with the entity guard off, for comparison")
    parser.add_argument("--out", type=Path, default=Path("bench/results/dialogue_replay.json"))
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    demo_world.seed()  # items, maps and NPC names: what the entity guard knows
    for persona in PERSONAS:
        NPC.objects.update_or_create(game_id=persona["game_id"], defaults=persona)
    players = [(100_000 + i, f"Player{i}") for i in range(args.players)]
    PlayerCharacter.objects.bulk_create([PlayerCharacter(server="bench", char_id=c, name=n) for c, n in players],
                                        ignore_conflicts=True)
    lines = generate(args.lines, seed=args.seed)
    kinds = Counter(line.kind for line in lines)
    print(f"corpus: {len(lines)} lines, {len({line.family for line in lines})} families, kinds {dict(kinds)}")

    fake = FakeLLM()
    fake.responder = responder
    fake.start()
    results = []
    try:
        configure_provider(fake.url, name="replay-local", budget_usd=Decimal("1000"))
        passes = [(t, True) for t in args.thresholds] + [(t, False) for t in args.without_guard]
        for threshold, guard in passes:
            os.environ["AIWORLD_SEMANTIC_THRESHOLD"] = str(threshold)
            os.environ["AIWORLD_SEMANTIC_ENTITY_GUARD"] = "1" if guard else "0"
            reset_world()
            label = f"t{threshold}{'' if guard else '-noguard'}"
            results.append(replay(lines, [p["game_id"] for p in PERSONAS], players, fake, label, args.seed)
                           | {"threshold": threshold, "entity_guard": guard})
    finally:
        fake.stop()
    machine = f"{platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()})"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    curves = {r["label"]: r.pop("calls_at") for r in results}  # plotted, not stored: one number per line
    args.out.write_text(json.dumps({"machine": machine, "command": " ".join(sys.argv), "corpus": dict(kinds),
                                    "results": results}, indent=2))
    plot_warm_up(curves, args.out.with_suffix(".png"))
    print(f"\nmachine: {machine}\n")
    print("| threshold | entity guard | LLM calls / lines | fewer calls | fewer calls, last fifth | cache hits "
          "| acceptable hits "
          "| no-LLM p50 / p95 ms | LLM-path p50 ms | sources |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        acceptable = f"{r['acceptable_hit_rate']:.1%}" if r["acceptable_hit_rate"] is not None else "n/a"
        no_llm = f"{r['no_llm_ms'].get(50, 0):.1f} / {r['no_llm_ms'].get(95, 0):.1f}"
        guard = "on" if r["entity_guard"] else "off"
        print(f"| {r['threshold']} | {guard} | {r['llm_http_requests']} / {r['lines']} | {r['call_reduction']:.1%} "
              f"| {r['steady_state_reduction']:.1%} "
              f"| {r['cache_hits']} | {acceptable} | {no_llm} | {r['llm_ms'].get(50, 0):.0f} | {r['sources']} |")
    for r in results:
        print(f"{r['label']} by tenths of the replay: "
              + ", ".join(f"{w['lines']} {w['reduction']:.1%}" for w in r["windows"]))


if __name__ == "__main__":
    main()
