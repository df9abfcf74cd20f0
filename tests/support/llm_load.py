"""Load for the budget concurrency test: one process, several threads, each calling the chain.

python -m tests.support.llm_load --threads 4 --calls 10 --start-at EPOCH
prints one JSON line: counts of answers and of NoLLM reasons. Needs DJANGO_SETTINGS_MODULE and a
DATABASE_URL pointing at the test database (tests.support.processes.subprocess_env).
"""

from __future__ import annotations

import argparse
import collections
import json
import threading
import time

MESSAGES = [{"role": "user", "content": "hammer"}]


def hammer(calls: int, tally: collections.Counter, lock: threading.Lock) -> None:
    from django.db import connection

    from aiworld.llm.chain import NoLLM, complete

    try:
        for _ in range(calls):
            try:
                complete(MESSAGES, purpose="load")
                key = "ok"
            except NoLLM as exc:
                key = exc.reason
            except Exception as exc:  # counted, so the test shows it instead of a silent thread death
                key = f"error:{type(exc).__name__}:{exc}"[:200]
            with lock:
                tally[key] += 1
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--start-at", type=float, default=0.0, help="epoch seconds: all processes start together")
    args = parser.parse_args()

    import django

    django.setup()
    tally: collections.Counter = collections.Counter()
    lock = threading.Lock()
    threads = [threading.Thread(target=hammer, args=(args.calls, tally, lock)) for _ in range(args.threads)]
    time.sleep(max(0.0, args.start_at - time.time()))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(dict(tally)), flush=True)


if __name__ == "__main__":
    main()
