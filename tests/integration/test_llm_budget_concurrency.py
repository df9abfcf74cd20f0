"""The budget holds across processes: 4 real processes x 4 threads race for a budget that fits 50 calls."""

import json
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from django.db.models import Sum

from aiworld.env import PROJECT_ROOT
from aiworld.llm import budget
from aiworld.models import LLMBudgetDay, LLMCall
from tests.support.fake_llm import Reply, configure_provider, fake_llm_fixture  # noqa: F401
from tests.support.llm_load import MESSAGES

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROCESSES, THREADS, CALLS = 4, 4, 10
MAX_TOKENS = 20
FITTING_CALLS = 50


def test_budget_is_never_overshot_by_concurrent_workers(fake_llm, worker_env):
    # A generous provider timeout: this test is about the budget under a race, and 16 callers on a loaded 2-core CI
    # machine once let one call fail (all_failed) within the default 5 s (timeouts: test_llm_chain.py)
    provider = configure_provider(fake_llm.url, price_prompt_per_mtok=Decimal("1"),
                                  price_completion_per_mtok=Decimal("2"), max_output_tokens=MAX_TOKENS, timeout_s=30.0)
    worst = budget.worst_case_usd(provider, MESSAGES, MAX_TOKENS)
    provider.daily_budget_usd = worst * FITTING_CALLS
    provider.save()
    # Every reply bills exactly the worst case (the prompt's byte bound, a reply cut at max_tokens), so the
    # budget fits exactly FITTING_CALLS calls and any lost update would show as one call too many.
    bound = budget.prompt_token_bound(MESSAGES)
    fake_llm.responder = lambda body: Reply("word " * 100, prompt_tokens=bound)

    start_at = time.time() + 4.0  # imports done everywhere, then all threads race together
    argv = [sys.executable, "-m", "tests.support.llm_load", "--threads", str(THREADS), "--calls", str(CALLS),
            "--start-at", str(start_at)]
    procs = [subprocess.Popen(argv, cwd=PROJECT_ROOT, env=worker_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(PROCESSES)]
    tallies = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err[-3000:]
            tallies.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()

    answered = sum(t.get("ok", 0) for t in tallies)
    refused = sum(t.get("over_budget", 0) for t in tallies)
    failed = list(LLMCall.objects.exclude(outcome__in=("ok", "over_budget")).values_list("outcome", "latency_ms",
                                                                                          "error"))
    assert answered + refused == PROCESSES * THREADS * CALLS, (tallies, failed)  # nothing else happened
    assert answered == FITTING_CALLS
    day = LLMBudgetDay.objects.get(provider=provider)
    assert day.spent_usd == worst * FITTING_CALLS == provider.daily_budget_usd
    assert day.reserved_usd == 0
    assert (day.calls, day.refused) == (answered, refused)
    assert LLMCall.objects.filter(outcome="ok").aggregate(total=Sum("cost_usd"))["total"] == day.spent_usd
    assert LLMCall.objects.filter(outcome="over_budget").count() == refused
    assert len(fake_llm.chat_requests()) == FITTING_CALLS
