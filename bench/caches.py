"""Does each serving cache pay? The engine at level 3 (CPU INT8, all six archetypes) answers the same
stream of ticks with each cache configuration, in one run, and the time per decision is compared.

    python -m aiworld.launcher exec --fresh -- python bench/caches.py [--monsters 512] [--ticks 200]
    python -m aiworld.launcher exec --fresh -- python bench/caches.py --models shipped --stream simulation

Models (--models): `small`, an untrained INT8 state MLP per archetype (and a temporal one for the L1 row);
`shipped`, the fused networks of models/shipped as level 3 serves them (INT8 where it passed its parity
check, else FP32). Those read the history, so L1 is always on and L3, which caches state-input models only
(a history is not a key), does not apply.
Stream (--stream): `synthetic`, `--monsters` monsters per tick of which a share (`--idle`, default 0.6)
stands idle with an unchanged state (they should hit a state cache) while the rest drift; `simulation`,
the simulated map server's states (aiworld/mobs/simulation.py, the `mapserver` command's), stepped with
action 255 each tick, so the hit rate is that of its monsters' own changes.
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
from aiworld.mobs.engine import PRECISIONS_FOR_LEVEL, Engine  # noqa: E402
from aiworld.mobs.onnx_export import random_mlp, sha256_of, write_precisions  # noqa: E402
from aiworld.mobs.payload import decode  # noqa: E402
from aiworld.mobs.simulation import MapSimulation  # noqa: E402
from aiworld.mobs.state import ARCHETYPES, STATE_SIZE  # noqa: E402
from aiworld.services import shipped_models  # noqa: E402
from aiworld.services.registry import ModelSpec, ServingSnapshot  # noqa: E402


def simulated(monsters: int, ticks: int, seed: int = 0):
    """The simulated map server's ticks (warmed up 20 ticks), each stepped with action 255."""
    sim = MapSimulation(monsters, seed=seed)
    actions = np.full(monsters, 255)
    for _ in range(20):
        sim.step(actions)
    for tick in range(ticks):
        yield decode(client.decide_payload(server="bench", tick=tick, reply_to="r",
                                           request_ids=range(tick * monsters, (tick + 1) * monsters),
                                           mob_ids=sim.mob_ids, class_ids=sim.class_ids, archetypes=sim.archetypes,
                                           states=sim.states(), packs=sim.packs))
        sim.step(actions)


def shipped_specs() -> list[ModelSpec]:
    """Each archetype's shipped fused network in the precision level 3 serves (INT8, else FP32)."""
    specs = []
    for archetype in ARCHETYPES:
        files = shipped_models.manifest(archetype)["files"]["fused"]
        precision = next(p for p in PRECISIONS_FOR_LEVEL[3] if p in files)
        path = shipped_models.SHIPPED_DIR / archetype / files[precision]["file"]
        specs.append(ModelSpec(id=len(specs) + 1, archetype=archetype, model_type="fused", version=0,
                               precision=precision, path=path, sha256=sha256_of(path), weight=1.0))
    return specs


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
    parser.add_argument("--models", choices=("small", "shipped"), default="small")
    parser.add_argument("--stream", choices=("synthetic", "simulation"), default="synthetic")
    options = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-caches-"))
    specs, temporal = [], []
    if options.models == "shipped":
        specs = shipped_specs()
    else:
        for a, archetype in enumerate(ARCHETYPES):
            for kind, is_temporal in (("combat_dqn", False), ("temporal_transformer", True)):
                path = write_precisions(random_mlp(a * 2 + is_temporal, temporal=is_temporal), tmp,
                                        f"{archetype}-{kind}")["int8"]
                spec = ModelSpec(id=len(specs) + len(temporal) + 1, archetype=archetype, model_type=kind, version=1,
                                 precision="int8", path=path, sha256=sha256_of(path), weight=1.0)
                (temporal if is_temporal else specs).append(spec)
    batches = list(simulated(options.monsters, options.ticks) if options.stream == "simulation"
                   else stream(options.monsters, options.ticks, options.idle))
    broker = redis.Redis.from_url(os.environ["BROKER_URL"])
    devices = Devices()
    devices.available_providers = lambda: [CPU]

    configs = {
        "no cache": dict(models=specs),
        "L2 local": dict(models=specs, l2="local"),
        "L2 redis": dict(models=specs, l2="redis"),
    }
    if temporal:  # small models: the state-input ones can use L3, and L1 is measured with a temporal one
        configs["L3 local"] = dict(models=specs, l3=True)
        configs["L1 + temporal model"] = dict(models=specs + temporal)
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
    shape = f"idle share {options.idle}" if options.stream == "synthetic" else "simulated map server states"
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"models {options.models} ({', '.join(f'{s.archetype} {s.model_type}/{s.precision}' for s in specs)}); "
          f"{options.monsters} monsters/tick, {options.ticks} ticks, {shape}, best of "
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
