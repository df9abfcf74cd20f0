"""Hard daily budgets: the worst case is reserved before a call, the actual cost charged after."""

from decimal import Decimal

import pytest

from aiworld.llm import budget
from aiworld.llm.chain import NoLLM, available, complete
from aiworld.models import LLMBudgetDay, LLMCall
from tests.support.fake_llm import FakeLLM, Reply, configure_provider, fake_llm_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

HELLO = [{"role": "system", "content": "You are a blacksmith."}, {"role": "user", "content": "Sell me a sword"}]
# With max_output_tokens=50 at 1/2 USD per Mtok: bound = 16 + 2*8 + 21 + 15 bytes = 68 tokens -> 68 µUSD,
# plus 50 * 2 = 100 µUSD; the fake then bills 14 prompt words and 5 reply words -> 24 µUSD per call.
WORST = Decimal("0.000168")
ACTUAL = Decimal("0.000024")


@pytest.fixture
def second_llm():
    server = FakeLLM().start()
    yield server
    server.stop()


def test_worst_case_bounds_bytes_and_max_tokens(fake_llm):
    provider = configure_provider(fake_llm.url, max_output_tokens=50)
    assert budget.prompt_token_bound(HELLO) == 68
    assert budget.worst_case_usd(provider, HELLO, 50) == WORST
    # Multi-byte text counts its UTF-8 bytes: 3 per kana.
    assert budget.prompt_token_bound([{"role": "user", "content": "こんにちは"}]) == 16 + 8 + 15


def test_costs_round_up_to_the_ledger_precision(fake_llm):
    provider = configure_provider(fake_llm.url, price_prompt_per_mtok=Decimal("0.15"),
                                  price_completion_per_mtok=Decimal("0.6"))
    assert budget.cost_usd(provider, 1, 0) == Decimal("0.000001")  # 0.00000015 would round to 0 otherwise
    assert budget.cost_usd(provider, 1000, 1000) == Decimal("0.000750")


def test_exhausting_a_budget_switches_to_the_next_provider(fake_llm, second_llm):
    first = configure_provider(fake_llm.url, name="cheap", order=1, budget_usd=Decimal("0.0002"),
                               max_output_tokens=50)
    configure_provider(second_llm.url, name="backup", order=2, max_output_tokens=50)

    answered_by = [complete(HELLO, purpose="t").provider for _ in range(3)]

    # The third call's worst case (48 + 168 µUSD) no longer fits 200 µUSD although only 48 were spent.
    assert answered_by == ["cheap", "cheap", "backup"]
    day = LLMBudgetDay.objects.get(provider=first)
    assert (day.spent_usd, day.reserved_usd, day.calls, day.refused) == (2 * ACTUAL, 0, 2, 1)
    assert LLMCall.objects.filter(provider=first, outcome="over_budget").count() == 1
    assert len(fake_llm.chat_requests()) == 2


def test_a_single_provider_over_budget_raises_and_never_overspends(fake_llm):
    provider = configure_provider(fake_llm.url, budget_usd=Decimal("0.0005"), max_output_tokens=50)
    # Bill the prompt's byte bound and a reply cut at max_tokens: every call costs exactly its worst case.
    fake_llm.responder = lambda body: Reply("word " * 200, prompt_tokens=68)
    answered = 0
    with pytest.raises(NoLLM) as caught:
        for _ in range(10):
            complete(HELLO, purpose="t")
            answered += 1
    assert caught.value.reason == "over_budget"
    day = LLMBudgetDay.objects.get(provider=provider)
    assert answered == int(Decimal("0.0005") // WORST) == 2
    assert day.spent_usd == answered * WORST <= provider.daily_budget_usd
    assert day.reserved_usd == 0 and day.refused == 1
    assert available() is True  # 336 µUSD spent < 500: headroom, though not for this prompt's worst case


def test_available_is_false_once_the_budget_is_spent(fake_llm):
    provider = configure_provider(fake_llm.url, budget_usd=Decimal("0.0001"))
    assert available() is True
    LLMBudgetDay.objects.create(provider=provider, day=budget.today(), spent_usd=Decimal("0.0001"))
    assert available() is False
    with pytest.raises(NoLLM, match="over_budget"):
        complete(HELLO, purpose="t")
    assert fake_llm.requests == []


def test_a_gm_lowering_the_budget_applies_to_the_next_call(fake_llm):
    provider = configure_provider(fake_llm.url, max_output_tokens=50)
    complete(HELLO, purpose="t")
    provider.daily_budget_usd = Decimal("0.0001")
    provider.save()
    with pytest.raises(NoLLM, match="over_budget"):
        complete(HELLO, purpose="t")


def test_reserve_refuses_what_does_not_fit_and_settle_releases(fake_llm):
    provider = configure_provider(fake_llm.url, budget_usd=Decimal("0.001"))
    held = budget.reserve(provider, Decimal("0.0007"))
    assert held is not None
    assert budget.reserve(provider, Decimal("0.0004")) is None  # 0.7 held + 0.4 > 1.0
    budget.settle(held, Decimal("0.0001"))
    assert budget.reserve(provider, Decimal("0.0009")) is not None  # 0.1 spent + 0.9 fits exactly
    day = LLMBudgetDay.objects.get(provider=provider)
    assert (day.spent_usd, day.reserved_usd, day.calls, day.refused) == (Decimal("0.0001"), Decimal("0.0009"), 2, 1)
