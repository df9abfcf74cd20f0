"""Streaming through the chain, and the fake server's own protocol (other engineers' tests rely on it)."""

from decimal import Decimal

import openai
import pytest

from aiworld.llm import budget
from aiworld.llm.chain import NoLLM, complete
from aiworld.models import LLMBudgetDay, LLMCall
from tests.support.fake_llm import Drop, Fail, FakeLLM, Reply, configure_provider, fake_llm_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "Tell me a story about Prontera"}]


@pytest.fixture
def second_llm():
    server = FakeLLM().start()
    yield server
    server.stop()


def test_streamed_pieces_add_up_to_the_completion_and_usage_is_charged(fake_llm):
    configure_provider(fake_llm.url)
    fake_llm.script(Reply("Once upon a time in Prontera", prompt_tokens=100, completion_tokens=7))
    pieces: list[str] = []

    completion = complete(HELLO, purpose="story", on_delta=pieces.append)

    assert len(pieces) == 6 and "".join(pieces) == completion.text == "Once upon a time in Prontera"
    assert (completion.prompt_tokens, completion.completion_tokens) == (100, 7)
    assert completion.cost_usd == Decimal("0.000114") == LLMBudgetDay.objects.get().spent_usd
    sent = fake_llm.chat_requests()[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_a_stream_failing_before_any_text_falls_back(fake_llm, second_llm):
    configure_provider(fake_llm.url, name="primary", order=1)
    configure_provider(second_llm.url, name="backup", order=2)
    fake_llm.script(Fail(500))
    pieces: list[str] = []
    completion = complete(HELLO, purpose="story", on_delta=pieces.append)
    assert completion.provider == "backup" and "".join(pieces) == completion.text


def test_a_stream_broken_after_text_ends_the_chain_and_is_charged(fake_llm, second_llm):
    primary = configure_provider(fake_llm.url, name="primary", order=1, max_output_tokens=40)
    configure_provider(second_llm.url, name="backup", order=2)
    fake_llm.script(Drop(after_words=2))
    pieces: list[str] = []
    with pytest.raises(NoLLM) as caught:
        complete(HELLO, purpose="story", on_delta=pieces.append)
    assert caught.value.reason == "all_failed" and "".join(pieces) == "echo: Tell"
    assert second_llm.requests == []  # never mix two providers' words
    call = LLMCall.objects.get(provider=primary)
    assert call.outcome == "invalid" and call.cost_usd == budget.worst_case_usd(primary, HELLO, 40)


def test_fake_server_speaks_the_openai_protocol(fake_llm):
    client = openai.OpenAI(base_url=fake_llm.url, api_key="x", max_retries=0)
    assert [m.id for m in client.models.list()] == ["fake-model"]

    reply = client.chat.completions.create(model="m", messages=HELLO, max_tokens=3)
    assert reply.choices[0].message.content == "echo: Tell me"  # cut at max_tokens words
    assert reply.choices[0].finish_reason == "length"
    # Unscripted usage: words of the prompt + 3 per message; words of the reply.
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (9, 3, 12)

    chunks = list(client.chat.completions.create(model="m", messages=HELLO, stream=True,
                                                 stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == "echo: Tell me a story about Prontera"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 7
    assert [c for c in chunks if c.choices and c.choices[0].finish_reason][0].choices[0].finish_reason == "stop"

    fake_llm.script(Fail(429, retry_after=7))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="m", messages=HELLO)
    assert caught.value.response.headers["retry-after"] == "7"
    assert len(fake_llm.chat_requests()) == 3
