"""What the provider chain adds per call: complete() (budget reserve + settle in PostgreSQL, breaker
check in the key server, an LLMCall row) against the same request sent with a bare openai client, both
to the local fake server on loopback. Sequential calls, one process.

    python -m aiworld.launcher exec --fresh -- python bench/llm.py [--calls 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiworld.settings")
import django  # noqa: E402

django.setup()

import openai  # noqa: E402
from django.core.management import call_command  # noqa: E402

from aiworld.llm.chain import complete  # noqa: E402
from aiworld.models import LLMProvider  # noqa: E402
from tests.support.fake_llm import FakeLLM, configure_provider  # noqa: E402

MESSAGES = [{"role": "system", "content": "You are Hanson, a blacksmith in Prontera."},
            {"role": "user", "content": "How much for a Katana?"}]


def timed(fn, calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{name:<22} mean {statistics.fmean(samples):6.2f} ms  p50 {statistics.median(samples):6.2f} ms  " \
           f"p99 {p99:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    fake = FakeLLM().start()
    provider = configure_provider(fake.url, name=f"bench-{os.getpid()}", budget_usd=100)
    try:
        bare = openai.OpenAI(base_url=fake.url, api_key="x", max_retries=0, timeout=5)
        for _ in range(20):  # warm both paths (connections, imports)
            bare.chat.completions.create(model="fake-model", messages=MESSAGES, max_tokens=300)
            complete(MESSAGES, purpose="bench")
        direct = timed(lambda: bare.chat.completions.create(model="fake-model", messages=MESSAGES, max_tokens=300),
                       args.calls)
        chain = timed(lambda: complete(MESSAGES, purpose="bench"), args.calls)
        print(f"{args.calls} sequential calls each, loopback fake server, {os.cpu_count()} CPUs visible")
        print(summary("bare openai client", direct))
        print(summary("chain.complete", chain))
        print(f"chain overhead (p50): {statistics.median(chain) - statistics.median(direct):.2f} ms")
    finally:
        LLMProvider.objects.filter(pk=provider.pk).delete()
        fake.stop()


if __name__ == "__main__":
    main()
