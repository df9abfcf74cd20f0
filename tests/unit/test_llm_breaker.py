"""The circuit breaker shared through the key server: opens, skips without HTTP, probes, closes."""

import threading
import time

import pytest

from aiworld.llm import breaker
from aiworld.llm.chain import NoLLM, available, complete
from aiworld.models import LLMCall
from tests.support.fake_llm import Fail, FakeLLM, Reply, configure_provider, fake_llm_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "Any rumours?"}]
COOLDOWN_S = 1.0


@pytest.fixture(autouse=True)
def short_cooldown(settings):
    settings.AIWORLD_LLM_BREAKER_COOLDOWN_S = COOLDOWN_S
    settings.AIWORLD_LLM_BREAKER_THRESHOLD = 3


@pytest.fixture
def second_llm():
    server = FakeLLM().start()
    yield server
    server.stop()


def test_opens_after_the_threshold_then_a_probe_closes_it(fake_llm, second_llm):
    primary = configure_provider(fake_llm.url, name="primary", order=1)
    configure_provider(second_llm.url, name="backup", order=2)
    fake_llm.script(Fail(500), Fail(500), Fail(500))

    for _ in range(3):
        assert complete(HELLO, purpose="t").provider == "backup"
    assert breaker.state(primary.pk) == "open"
    for _ in range(2):
        assert complete(HELLO, purpose="t").provider == "backup"
    assert len(fake_llm.chat_requests()) == 3  # skipped without HTTP while open
    assert LLMCall.objects.filter(provider=primary, outcome="circuit_open").count() == 2

    time.sleep(COOLDOWN_S + 0.2)
    assert breaker.state(primary.pk) == "half-open"
    assert complete(HELLO, purpose="t").provider == "primary"  # the probe, answered by the default responder
    assert breaker.state(primary.pk) == "closed"
    assert len(fake_llm.chat_requests()) == 4


def test_a_failed_probe_reopens_at_once(fake_llm, second_llm):
    primary = configure_provider(fake_llm.url, name="primary", order=1)
    configure_provider(second_llm.url, name="backup", order=2)
    fake_llm.script(Fail(500), Fail(500), Fail(500), Fail(503))
    for _ in range(3):
        complete(HELLO, purpose="t")
    time.sleep(COOLDOWN_S + 0.2)
    assert complete(HELLO, purpose="t").provider == "backup"  # probe failed (one failure, not three)
    assert breaker.state(primary.pk) == "open"
    assert complete(HELLO, purpose="t").provider == "backup"
    assert len(fake_llm.chat_requests()) == 4


def test_success_resets_the_consecutive_count(fake_llm):
    primary = configure_provider(fake_llm.url)
    fake_llm.script(Fail(500), Fail(500), Reply("ok"), Fail(500), Fail(500))
    outcomes = []
    for _ in range(5):
        try:
            outcomes.append(complete(HELLO, purpose="t").text)
        except NoLLM as exc:
            outcomes.append(exc.reason)
    assert outcomes == ["all_failed", "all_failed", "ok", "all_failed", "all_failed"]
    assert breaker.state(primary.pk) == "closed"


def test_only_one_worker_gets_the_probe(fake_llm):
    primary = configure_provider(fake_llm.url)
    for _ in range(3):
        breaker.record_failure(primary.pk)
    time.sleep(COOLDOWN_S + 0.2)
    gates: list[breaker.Gate] = []
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        gates.append(breaker.gate(primary.pk, timeout_s=5.0))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(g.value for g in gates) == ["open"] * 7 + ["probe"]


def test_retry_after_on_429_opens_for_that_long(fake_llm):
    primary = configure_provider(fake_llm.url)
    fake_llm.script(Fail(429, retry_after=2))
    with pytest.raises(NoLLM, match="all_failed"):
        complete(HELLO, purpose="t")
    assert breaker.state(primary.pk) == "open" and available() is False
    with pytest.raises(NoLLM) as caught:
        complete(HELLO, purpose="t")
    assert caught.value.reason == "circuit_open"
    time.sleep(COOLDOWN_S + 0.2)
    assert breaker.state(primary.pk) == "open"  # the 1 s cool-down is over, Retry-After (2 s) is not
    time.sleep(1.0)
    assert available() is True
    assert complete(HELLO, purpose="t").provider == "local"
    assert len(fake_llm.chat_requests()) == 2


def test_request_errors_do_not_count_against_the_provider(fake_llm):
    primary = configure_provider(fake_llm.url)
    fake_llm.script(*[Fail(400, body='{"error": {"message": "context too long"}}')] * 4)
    for _ in range(4):
        with pytest.raises(NoLLM):
            complete(HELLO, purpose="t")
    assert breaker.state(primary.pk) == "closed"
    assert len(fake_llm.chat_requests()) == 4
