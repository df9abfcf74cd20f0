"""Does each serving cache pay? The engine at level 3 (CPU INT8, all six archetypes) answers the same
stream of ticks with each cache configuration, in one run, and the time per decision is compared.

    python -m aiworld.launcher exec --fresh -- python bench/caches.py [--monsters 512] [--ticks 200]

The stream: `--monsters` monsters per tick; a share of them (`--idle`, default 0.6) stands idle with
an unchanged state (they should hit a state cache); the rest move and fight, their states drift.
L2 via Redis uses the real broker (BROKER_URL). Loopback only, bounded, stops by itself.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiworld.settings")
import django  # noqa: E402

django.setup()  # the engine imports the registry's models

from aiworld.mobs import client  # noqa: E402
from aiworld.mobs.caches import LocalCache, RedisCache  # noqa: E402
from aiworld.mobs.devices import CPU, Devices  # noqa: E402
from aiworld.mobs.engine import Engine  # noqa: E402
from aiworld.mobs.onnx_export import random_mlp, sha256_of, write_precisions  # noqa: E402
from aiworld.mobs.payload import decode  # noqa: E402
from aiworld.mobs.state import ARCHETYPES, STATE_SIZE  # noqa: E402
from aiworld.services.registry import ModelSpec, ServingSnapshot  # noqa: E402


def stream(monsters: int, ticks: int, idle_share: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    states = rng.random((monsters, STATE_SIZE), dtype=np.float32)
    idle = rng.random(monsters) < idle_share
    archetypes = [ARCHETYPES[i % 6] for i in range(monsters)]
    for tick in range(ticks):
        drift = rng.normal(0, 0.05, states.shape).astype(np.float32)
        drift[idle] = 0
        states = np.clip(states + drift, 0, 1)
        yield decode(client.decide_payload(server="bench", tick=tick, reply_to="r",
                                           request_ids=range(tick * monsters, (tick + 1) * monsters),
                                           mob_ids=range(monsters), class_ids=[1] * monsters, archetypes=archetypes,
                                           states=states))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--monsters", type=int, default=512)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--idle", type=float, default=0.6)
    parser.add_argument("--rounds", type=int, default=3, help="alternate the configurations this many times")
    options = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-caches-"))
    specs, temporal = [], []
    for a, archetype in enumerate(ARCHETYPES):
        for kind, is_temporal in (("combat_dqn", False), ("temporal_transformer", True)):
            path = write_precisions(random_mlp(a * 2 + is_temporal, temporal=is_temporal), tmp,
                                    f"{archetype}-{kind}")["int8"]
            spec = ModelSpec(id=len(specs) + len(temporal) + 1, archetype=archetype, model_type=kind, version=1,
                             precision="int8", path=path, sha256=sha256_of(path), weight=1.0)
            (temporal if is_temporal else specs).append(spec)
    batches = list(stream(options.monsters, options.ticks, options.idle))
    broker = redis.Redis.from_url(os.environ["BROKER_URL"])
    devices = Devices()
    devices.available_providers = lambda: [CPU]

    configs = {
        "no cache": dict(models=specs),
        "L2 local": dict(models=specs, l2="local"),
        "L2 redis": dict(models=specs, l2="redis"),
        "L3 local": dict(models=specs, l3=True),
        "L1 + temporal model": dict(models=specs + temporal),
    }
    totals = {name: [] for name in configs}
    hits = {}
    for _ in tqdm(range(options.rounds), desc="rounds"):
        for name, config in configs.items():
            broker.flushdb()
            l2 = {"local": LocalCache(), "redis": RedisCache(broker)}.get(config.get("l2"))
            engine = Engine(ServingSnapshot(tuple(config["models"]), None, 1.0), devices=devices, l2=l2,
                            l3=LocalCache() if config.get("l3") else None)
            engine.decide(batches[:2])  # load sessions before timing
            started = time.perf_counter()
            for batch in batches:
                engine.decide([batch])
            totals[name].append(time.perf_counter() - started)
            cache = engine.l2 or engine.l3
            if cache is not None:
                hits[name] = cache.hits / max(1, cache.hits + cache.misses)

    from aiworld.mobs.caches import WorkingMemory

    memory = WorkingMemory()
    started = time.perf_counter()
    for batch in batches:
        memory.update(batch.mob_ids, batch.states)
    l1_only = time.perf_counter() - started

    decisions = options.monsters * options.ticks
    base = min(totals["no cache"])
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{options.monsters} monsters/tick, {options.ticks} ticks, idle share {options.idle}, best of "
          f"{options.rounds} alternating rounds")
    print("| configuration | µs per decision | vs no cache | hit rate |")
    print("|---|---|---|---|")
    for name, values in totals.items():
        best = min(values)
        rate = f"{hits[name]:.0%}" if name in hits else "-"
        print(f"| {name} | {best / decisions * 1e6:.2f} | {best / base:.2f}x | {rate} |")
    print(f"| L1 upkeep alone (no inference) | {l1_only / decisions * 1e6:.2f} | - | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
