"""What GMs see and do for the LLM chain in the admin."""

from decimal import Decimal

import pytest

from aiworld.llm import breaker, budget
from aiworld.models import LLMBudgetDay, LLMCall
from tests.support.fake_llm import configure_provider, fake_llm_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def test_provider_list_shows_todays_spend_and_the_circuit(admin_client, fake_llm):
    provider = configure_provider(fake_llm.url, name="ollama-box", budget_usd=Decimal("2"))
    LLMBudgetDay.objects.create(provider=provider, day=budget.today(), spent_usd=Decimal("0.123456"))
    LLMBudgetDay.objects.create(provider=provider, day=budget.today().replace(year=2020), spent_usd=Decimal("9"))
    page = admin_client.get("/admin/aiworld/llmprovider/")
    assert page.status_code == 200
    assert b"ollama-box" in page.content and b"0.123456" in page.content
    assert b"9.000000" not in page.content  # only today's row counts
    assert b"closed" in page.content


def test_ledger_pages_are_read_only(admin_client, fake_llm):
    provider = configure_provider(fake_llm.url)
    day = LLMBudgetDay.objects.create(provider=provider, day=budget.today())
    call = LLMCall.objects.create(provider=provider, purpose="dialogue", outcome="rate_limited", error="429 slow down")
    for url, text in (("/admin/aiworld/llmbudgetday/", b"Budget day"), ("/admin/aiworld/llmcall/", b"rate_limited"),
                      ("/admin/aiworld/llmcall/?outcome__exact=rate_limited", b"dialogue")):
        page = admin_client.get(url)
        assert page.status_code == 200 and text.lower() in page.content.lower(), url
    assert admin_client.get("/admin/aiworld/llmcall/add/").status_code == 403
    assert admin_client.post(f"/admin/aiworld/llmcall/{call.pk}/change/", {"outcome": "ok"}).status_code == 403
    assert admin_client.post(f"/admin/aiworld/llmbudgetday/{day.pk}/change/", {"spent_usd": "0"}).status_code == 403


def test_reset_circuit_breaker_action(admin_client, fake_llm):
    provider = configure_provider(fake_llm.url)
    for _ in range(breaker.threshold()):
        breaker.record_failure(provider.pk)
    assert breaker.state(provider.pk) == "open"
    response = admin_client.post("/admin/aiworld/llmprovider/",
                                 {"action": "reset_circuit_breaker", "_selected_action": [provider.pk]}, follow=True)
    assert b"Circuit breaker reset for 1 provider" in response.content
    assert breaker.state(provider.pk) == "closed"
