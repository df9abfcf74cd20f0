"""Monster decisions end to end at level 3 (CPU INT8): LPUSH of a tick -> reply readable.

    python -m aiworld.launcher exec --fresh -- python bench/decisions.py [--duration 10] [--quick]

Against one real gpu worker subprocess (threads pool, as the Procfile runs it) with INT8 models
for all six archetypes. Offered loads of 1,000, 10,000 and 50,000 decisions/s (map servers x
monsters x 10 ticks/s, one message per map per tick), then saturation (every map server sends its
next tick as soon as its reply is back). In the same run: raw onnxruntime throughput of the same
models in one process, and the worker's memory per loaded archetype. Producers use raw Redis
commands with pre-encoded messages so that the producer costs little of the 2 cores. Loopback
only; bounded in time; stops by itself.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import psutil
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiworld.settings")
import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from aiworld.mobs import client  # noqa: E402
from aiworld.mobs.simulation import MapSimulation  # noqa: E402
from aiworld.mobs.state import ARCHETYPES  # noqa: E402
from aiworld.services import registry  # noqa: E402
from tests.support.models import install_models  # noqa: E402
from tests.support.processes import start_worker, subprocess_env  # noqa: E402

TICKS_PER_S = 10


def percentile(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


class Producer(threading.Thread):
    """One map server: a pre-encoded tick message, re-sent with a fresh id and delivery tag."""

    def __init__(self, index: int, url: str, monsters: int, interval_s: float | None, stop: threading.Event):
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url, socket_timeout=10)
        self.reply_to = f"bench:replies:{index}:{uuid.uuid4().hex[:6]}"
        sim = MapSimulation(monsters, seed=index)
        for _ in range(5):
            sim.step(np.zeros(monsters, np.int16))
        payload = client.decide_payload(server=f"bench{index}", tick=1, reply_to=self.reply_to,
                                        request_ids=range(monsters), mob_ids=sim.mob_ids, class_ids=sim.class_ids,
                                        archetypes=sim.archetypes, states=sim.states())
        template = client.decide_message(payload, task_id="TASKID-0000-0000-0000-000000000000").decode()
        self.template = template.replace(template.split('"delivery_tag":"')[1].split('"')[0], "DELIVERYTAG")
        self.monsters = monsters
        self.interval_s = interval_s
        self.stop = stop
        self.latencies: list[float] = []
        self.decisions = 0
        self.missing = 0

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            message = self.template.replace("TASKID-0000-0000-0000-000000000000", str(uuid.uuid4()), 3) \
                .replace("DELIVERYTAG", str(uuid.uuid4()))
            started = time.perf_counter()
            self.client.lpush("gpu", message)
            item = self.client.brpop([self.reply_to], timeout=2.0)
            if item is None:
                self.missing += 1
            else:
                self.latencies.append((time.perf_counter() - started) * 1000)
                # count instead of parsing: the producer shares the 2 cores with the worker
                self.decisions += item[1].count(b'"rid":') - item[1].count(b'{"rid":null')
            if self.interval_s:
                next_at += self.interval_s
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                else:
                    next_at = time.monotonic()


def offered(url: str, servers: int, monsters: int, duration: float, paced: bool) -> dict:
    stop = threading.Event()
    producers = [Producer(i, url, monsters, 1 / TICKS_PER_S if paced else None, stop) for i in range(servers)]
    for p in producers:
        p.start()
    time.sleep(min(2.0, duration / 4))  # warm-up, not counted
    for p in producers:
        p.latencies.clear()
        p.decisions = p.missing = 0
    started = time.monotonic()
    time.sleep(duration)
    elapsed = time.monotonic() - started
    counted = [(p.decisions, list(p.latencies), p.missing) for p in producers]
    stop.set()
    for p in producers:
        p.join(10)
    latencies = [v for _, lat, _ in counted for v in lat]
    return {"decisions_s": sum(d for d, _, _ in counted) / elapsed, "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99), "missing": sum(m for _, _, m in counted), "messages": len(latencies)}


def raw_onnxruntime(monsters: int, seconds: float = 3.0) -> float:
    """Decisions/s of the same INT8 models run directly: one run per archetype per message."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = [ort.InferenceSession(str(spec.path), sess_options=options, providers=["CPUExecutionProvider"])
                for spec in registry.snapshot().models if spec.precision == "int8"]
    rows = np.random.default_rng(0).random((max(1, monsters // len(sessions)), 64), dtype=np.float32)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for session in sessions:
            session.run(None, {"state": rows})
            count += len(rows)
    return count / (time.perf_counter() - started)


def memory_per_archetype(url: str, worker_pid: int) -> list[tuple[str, float]]:
    """RSS growth of the worker as each archetype's models load (one message per archetype)."""
    conn = redis.Redis.from_url(url, socket_timeout=10)
    process = psutil.Process(worker_pid)
    out, before = [], process.memory_info().rss
    for archetype in ARCHETYPES:
        payload = client.decide_payload(server="mem", tick=1, reply_to="bench:mem", request_ids=[1], mob_ids=[1],
                                        class_ids=[1], archetypes=[archetype],
                                        states=np.full((1, 64), 0.5, np.float32))
        client.push(conn, payload)
        client.read_reply(conn, "bench:mem", timeout=10)
        time.sleep(0.2)
        after = process.memory_info().rss
        out.append((archetype, (after - before) / 2**20))
        before = after
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per offered load")
    parser.add_argument("--quick", action="store_true", help="3 s per load (a check, not a result)")
    parser.add_argument("--saturation-monsters", type=int, default=2000, help="monsters per message at saturation")
    parser.add_argument("--pool", default="threads", choices=["threads", "prefork"],
                        help="gpu worker pool: threads (the Procfile's) or prefork (one process per core)")
    options = parser.parse_args()
    duration = 3.0 if options.quick else options.duration
    url = os.environ["BROKER_URL"]
    call_command("migrate", verbosity=0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-decisions-"))
    install_models(tmp / "models", ARCHETYPES)
    redis.Redis.from_url(url).delete("gpu")
    concurrency = 4 if options.pool == "threads" else os.cpu_count() or 2
    worker = start_worker(tmp, "gpu", subprocess_env(LOG_LEVEL="WARNING"), pool=options.pool,
                          concurrency=concurrency)
    try:
        memory = memory_per_archetype(url, worker.pid) if options.pool == "threads" else []
        loads = [("1,000/s", 1, 100), ("10,000/s", 4, 250), ("50,000/s", 10, 500)]
        results = [(name, servers * monsters * TICKS_PER_S, offered(url, servers, monsters, duration, True))
                   for name, servers, monsters in loads]
        saturation = offered(url, 4, options.saturation_monsters, duration, False)
        process = psutil.Process(worker.pid)
        worker_rss = sum(p.memory_info().rss for p in [process, *process.children()]) / 2**20
    finally:
        worker.stop()
    raw = raw_onnxruntime(options.saturation_monsters)

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    import onnxruntime

    print(f"\ncommand: python -m aiworld.launcher exec --fresh -- python bench/decisions.py"
          f"{' --quick' if options.quick else f' --duration {duration:g}'}"
          f"{' --pool prefork' if options.pool == 'prefork' else ''}")
    print(f"machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, onnxruntime "
          f"{onnxruntime.__version__}; one gpu worker ({options.pool} pool, {concurrency}), level 3, INT8 models for "
          f"6 archetypes; producers, worker and Valkey share the cores\n")
    print("| offered | achieved decisions/s | p50 ms | p99 ms | messages | missing replies |")
    print("|---|---|---|---|---|---|")
    for name, _, r in results:
        print(f"| {name} | {r['decisions_s']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['messages']} | "
              f"{r['missing']} |")
    print(f"| saturation (4 maps x {options.saturation_monsters} monsters, back to back) | "
          f"{saturation['decisions_s']:,.0f} | {saturation['p50']:.2f} | {saturation['p99']:.2f} | "
          f"{saturation['messages']} | {saturation['missing']} |")
    print(f"\nraw onnxruntime, same models, batches of {options.saturation_monsters // 6} rows per archetype, one "
          f"process: {raw:,.0f} decisions/s; end to end at saturation is {saturation['decisions_s'] / raw:.1%} "
          f"of it")
    if memory:
        print("\nworker memory as each archetype's models load (RSS growth, MiB): "
              + ", ".join(f"{a} {mib:+.1f}" for a, mib in memory) + f"; worker RSS at the end {worker_rss:.0f} MiB")
    else:
        print(f"\nworker RSS at the end, all processes: {worker_rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
