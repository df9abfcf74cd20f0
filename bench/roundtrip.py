"""Round trip through the farm's transport: hand-built envelope LPUSHed with raw Redis commands ->
one `cpu` worker -> result PUBLISHed -> seen by the producer.

    python -m aiworld.launcher exec --fresh -- python bench/roundtrip.py [--sequential 1000] [--burst 5000]

Starts its own worker subprocess (solo pool, like the gpu worker; or --pool prefork), sends traffic
to loopback only, is bounded in count and time, and stops by itself. Prints latency percentiles for
one message in flight, then the throughput of a burst.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiworld.protocol.envelope import build_message, encode, queue_key  # noqa: E402
from tests.support.processes import start_worker, subprocess_env  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequential", type=int, default=1000, help="round trips with one message in flight")
    parser.add_argument("--burst", type=int, default=5000, help="messages pushed at once for throughput")
    parser.add_argument("--pool", default="solo", choices=["solo", "prefork"])
    parser.add_argument("--time-budget", type=float, default=300.0, help="seconds before giving up")
    parser.add_argument("--pace-ms", type=float, default=0.0,
                        help="pause between sequential round trips (a map server sends every 100 ms, so the "
                             "worker sleeps in between); 0: back to back")
    options = parser.parse_args()

    client = redis.Redis.from_url(os.environ["BROKER_URL"])
    client.flushdb()
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("celery-task-meta-*")
    deadline = time.monotonic() + options.time_budget

    def message(task_id: str) -> bytes:
        return encode(build_message("aiworld.ops.echo", [{"n": 1}], {}, queue="cpu", task_id=task_id))

    def wait_done(pending: set[bytes], progress=None) -> None:
        while pending and time.monotonic() < deadline:
            item = pubsub.get_message(timeout=1.0)
            if item and b'"SUCCESS"' in item["data"]:
                channel = item["channel"]
                if channel in pending:
                    pending.discard(channel)
                    if progress:
                        progress.update(1)
        if pending:
            raise TimeoutError(f"{len(pending)} results missing after the time budget")

    with tempfile.TemporaryDirectory() as tmp:
        worker = start_worker(Path(tmp), "cpu", subprocess_env(), pool=options.pool,
                              concurrency=1 if options.pool == "solo" else os.cpu_count() or 2)
        try:
            for _ in range(50):  # warm-up
                task_id = str(uuid.uuid4())
                client.lpush(queue_key("cpu"), message(task_id))
                wait_done({f"celery-task-meta-{task_id}".encode()})

            latencies = []
            for _ in tqdm(range(options.sequential), desc="sequential", unit="msg"):
                task_id = str(uuid.uuid4())
                started = time.perf_counter()
                client.lpush(queue_key("cpu"), message(task_id))
                wait_done({f"celery-task-meta-{task_id}".encode()})
                latencies.append((time.perf_counter() - started) * 1000)
                if options.pace_ms:
                    time.sleep(options.pace_ms / 1000)

            ids = [str(uuid.uuid4()) for _ in range(options.burst)]
            payloads = [message(task_id) for task_id in ids]
            pending = {f"celery-task-meta-{task_id}".encode() for task_id in ids}
            started = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            for payload in payloads:
                pipe.lpush(queue_key("cpu"), payload)
            pipe.execute()
            with tqdm(total=options.burst, desc="burst", unit="msg") as progress:
                wait_done(pending, progress)
            burst_s = time.perf_counter() - started
        finally:
            worker.stop()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"worker pool {options.pool}")
    paced = f", {options.pace_ms:g} ms apart" if options.pace_ms else ", back to back"
    print(f"sequential round trip ({options.sequential}{paced}): p50 {statistics.median(latencies):.2f} ms, "
          f"p99 {percentile(latencies, 0.99):.2f} ms, max {max(latencies):.2f} ms")
    print(f"burst of {options.burst}: {burst_s:.2f} s, {options.burst / burst_s:.0f} tasks/s end to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
