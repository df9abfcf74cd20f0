"""The provider chain against a real local HTTP server: cost accounting, fallback, NoLLM reasons."""

from decimal import Decimal

import pytest

from aiworld.errors import PayloadError
from aiworld.llm import budget
from aiworld.llm.chain import NoLLM, available, complete
from aiworld.models import LLMBudgetDay, LLMCall
from tests.support.fake_llm import Fail, FakeLLM, Hang, Reply, configure_provider, fake_llm_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

HELLO = [{"role": "system", "content": "You are a blacksmith."}, {"role": "user", "content": "Sell me a sword"}]


@pytest.fixture
def second_llm():
    server = FakeLLM().start()
    yield server
    server.stop()


def test_cost_comes_from_usage_tokens_and_the_call_is_recorded(fake_llm):
    provider = configure_provider(fake_llm.url, price_prompt_per_mtok=Decimal("3"),
                                  price_completion_per_mtok=Decimal("15"))
    fake_llm.script(Reply("Fine steel, 500 zeny.", prompt_tokens=1200, completion_tokens=40))

    completion = complete(HELLO, purpose="dialogue")

    expected = Decimal("0.003600") + Decimal("0.000600")  # 1200 * 3 / 1e6 + 40 * 15 / 1e6
    assert (completion.text, completion.provider, completion.model) == ("Fine steel, 500 zeny.", "local", "fake-model")
    assert (completion.prompt_tokens, completion.completion_tokens, completion.cost_usd) == (1200, 40, expected)
    call = LLMCall.objects.get()
    assert (call.provider, call.purpose, call.outcome, call.prompt_tokens, call.completion_tokens, call.cost_usd) \
        == (provider, "dialogue", "ok", 1200, 40, expected)
    day = LLMBudgetDay.objects.get(provider=provider)
    assert (day.spent_usd, day.reserved_usd, day.calls, day.refused) == (expected, 0, 1, 0)
    sent = fake_llm.chat_requests()[0]
    assert sent["messages"] == HELLO and sent["model"] == "fake-model" and sent["max_tokens"] == 300


def test_max_tokens_sent_is_the_smaller_of_asked_and_the_row_cap(fake_llm):
    configure_provider(fake_llm.url, max_output_tokens=50)
    complete(HELLO, purpose="t", max_tokens=20)
    complete(HELLO, purpose="t", max_tokens=5000)
    complete(HELLO, purpose="t")
    assert [r["max_tokens"] for r in fake_llm.chat_requests()] == [20, 50, 50]


@pytest.mark.parametrize("first_step, outcome", [
    (Fail(429, retry_after=None), "rate_limited"),
    (Fail(500), "error"),
    (Fail(503), "error"),
    (Hang(1.5), "timeout"),
    (Fail(200, body="this is not json"), "invalid"),
    (Reply("", completion_tokens=0), "invalid"),
])
def test_falls_back_to_the_second_provider(fake_llm, second_llm, first_step, outcome):
    first = configure_provider(fake_llm.url, name="primary", order=1, timeout_s=0.5)
    second = configure_provider(second_llm.url, name="backup", order=2)
    fake_llm.script(first_step)
    second_llm.script(Reply("from the backup"))

    completion = complete(HELLO, purpose="dialogue")

    assert (completion.text, completion.provider) == ("from the backup", "backup")
    assert len(fake_llm.chat_requests()) == 1 and len(second_llm.chat_requests()) == 1
    outcomes = dict(LLMCall.objects.values_list("provider__name", "outcome"))
    assert outcomes == {"primary": outcome, "backup": "ok"}
    failed_day = LLMBudgetDay.objects.get(provider=first)
    assert failed_day.reserved_usd == 0  # the reservation was released
    if outcome != "invalid":
        assert failed_day.spent_usd == 0  # a failed request with no usage costs nothing we know of
    assert LLMBudgetDay.objects.get(provider=second).spent_usd > 0


def test_json_mode_asks_for_json_and_rejects_prose(fake_llm, second_llm):
    configure_provider(fake_llm.url, name="primary", order=1)
    configure_provider(second_llm.url, name="backup", order=2)
    fake_llm.script(Reply("Sure! Here is some JSON: {"))

    completion = complete(HELLO, purpose="quest", json_mode=True)

    assert completion.provider == "backup" and completion.text == '{"echo": "Sell me a sword"}'
    assert fake_llm.chat_requests()[0]["response_format"] == {"type": "json_object"}


def test_a_reply_without_usage_is_charged_the_reserved_worst_case(fake_llm):
    provider = configure_provider(fake_llm.url, max_output_tokens=100)
    fake_llm.script(Reply("no usage here", usage=False))
    completion = complete(HELLO, purpose="t")
    worst = budget.worst_case_usd(provider, HELLO, 100)
    assert completion.cost_usd == worst == LLMBudgetDay.objects.get().spent_usd
    assert "worst case" in LLMCall.objects.get().error


def test_all_failed(fake_llm, second_llm):
    configure_provider(fake_llm.url, name="primary", order=1)
    configure_provider(second_llm.url, name="backup", order=2)
    fake_llm.script(Fail(500))
    second_llm.script(Fail(502))
    with pytest.raises(NoLLM) as caught:
        complete(HELLO, purpose="t")
    assert caught.value.reason == "all_failed"
    assert LLMCall.objects.filter(outcome="error").count() == 2


def test_no_provider(fake_llm):
    with pytest.raises(NoLLM) as caught:
        complete(HELLO, purpose="t")
    assert caught.value.reason == "no_provider"
    assert available() is False
    disabled = configure_provider(fake_llm.url)
    disabled.enabled = False
    disabled.save()
    with pytest.raises(NoLLM, match="no_provider"):
        complete(HELLO, purpose="t")
    assert fake_llm.requests == []
    assert LLMCall.objects.filter(outcome="no_provider", provider=None).count() == 2


def test_a_missing_key_variable_skips_the_provider_visibly(fake_llm, second_llm, monkeypatch):
    monkeypatch.delenv("AIWORLD_TEST_MISSING_KEY", raising=False)
    configure_provider(fake_llm.url, name="keyed", order=1, api_key_env="AIWORLD_TEST_MISSING_KEY")
    configure_provider(second_llm.url, name="local", order=2)
    assert complete(HELLO, purpose="t").provider == "local"
    skipped = LLMCall.objects.get(outcome="skipped")
    assert skipped.provider.name == "keyed" and "AIWORLD_TEST_MISSING_KEY" in skipped.error
    assert fake_llm.requests == []

    monkeypatch.setenv("AIWORLD_TEST_MISSING_KEY", "sk-test-123")
    assert complete(HELLO, purpose="t").provider == "keyed"


def test_bad_messages_are_a_clear_error_before_any_request(fake_llm):
    configure_provider(fake_llm.url)
    for bad in ([], "hello", [{"role": "wizard", "content": "x"}], [{"role": "user"}]):
        with pytest.raises(PayloadError):
            complete(bad, purpose="t")
    with pytest.raises(PayloadError):
        complete(HELLO, purpose="t", max_tokens=0)
    assert fake_llm.requests == [] and not LLMCall.objects.exists()


def test_an_azure_provider_uses_the_deployment_url_and_the_key_from_the_environment(fake_llm, monkeypatch):
    from aiworld.models import LLMProvider

    monkeypatch.setenv("AIWORLD_TEST_AZURE_KEY", "azure-secret")
    provider = configure_provider(fake_llm.url.removesuffix("/v1"), name="azure", model="npc-gpt",
                                  api_key_env="AIWORLD_TEST_AZURE_KEY")
    provider.kind, provider.api_version = LLMProvider.Kind.AZURE, "2024-10-21"
    provider.save()
    assert complete(HELLO, purpose="t").provider == "azure"
    assert fake_llm.request_paths == ["/openai/deployments/npc-gpt/chat/completions?api-version=2024-10-21"]

    provider.api_version = ""
    provider.save()
    with pytest.raises(NoLLM, match="no_provider"):
        complete(HELLO, purpose="t")
    assert "api_version" in LLMCall.objects.filter(outcome="skipped").get().error
