"""Which pool and concurrency for the gpu worker: the same offered loads against each candidate,
alternating candidates over rounds (this machine is shared and noisy), the fast wire form.

    python -m aiworld.launcher exec --fresh -- python bench/gpu_pool.py [--rounds 2] [--duration 8]

Candidates: threads pool with 4, 2 and 1 threads (the Procfile's GPU_THREADS), solo, prefork with 2
processes. Loads: 10,000/s (2 maps x 500) and 100,000/s (20 maps x 500), one message per map per
100 ms tick, as bench/decisions.py sends them (its Producer and run_load). Loopback only; bounded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decisions  # noqa: E402 - sets up Django and the path like the other benchmarks

CANDIDATES = (("threads", 4), ("threads", 2), ("threads", 1), ("solo", 1), ("prefork", 2))
LOADS = ((10_000, 2, 500), (100_000, 20, 500))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per load")
    options = parser.parse_args()
    if not 1 <= options.rounds <= 5 or not 1 <= options.duration <= 60:
        parser.error("--rounds 1..5 and --duration 1..60")
    url = os.environ["BROKER_URL"]
    setup = decisions.machine()
    tmp = decisions.prepare("bench-gpu-pool-")
    form = decisions.client.FORMS["fast"]
    results: dict[tuple, list[dict]] = {}
    began = time.monotonic()
    for round_ in range(options.rounds):
        for pool, concurrency in CANDIDATES:
            redis.Redis.from_url(url).delete(decisions.client.QUEUE)
            worker = decisions.start_worker(tmp, "gpu", decisions.subprocess_env(**decisions.WORKER_ENV), pool=pool,
                                            concurrency=concurrency)
            try:
                decisions.memory_per_archetype(url, worker.pid)  # loads every archetype's models
                for load, servers, monsters in LOADS:
                    result = decisions.run_load(url, servers, monsters, 0.1, 20, options.duration, 2.0, form)
                    results.setdefault((pool, concurrency, load), []).append(result)
                    print(f"round {round_ + 1}: {pool} x{concurrency} at {load:,}/s: {result['decisions_s']:,.0f}/s, "
                          f"p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms", flush=True)
            finally:
                worker.stop()
    print(f"\ncommand: python -m aiworld.launcher exec --fresh -- python {' '.join(sys.argv)}")
    print(f"machine: {setup}")
    print(f"{options.rounds} rounds, candidates alternating; {options.duration:g} s per load; fast wire form; "
          f"total {time.monotonic() - began:.0f} s\n")
    print("| pool | offered | achieved decisions/s (median) | p50 ms (median) | p99 ms (median) | skipped ticks |")
    print("|---|---|---|---|---|---|")
    for (pool, concurrency, load), runs in results.items():
        def median(key: str, runs: list[dict] = runs) -> float:
            return float(np.median([r[key] for r in runs]))
        print(f"| {pool} x{concurrency} | {load:,}/s | {median('decisions_s'):,.0f} | {median('p50'):.1f} | "
              f"{median('p99'):.1f} | {sum(r['skipped'] for r in runs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
