"""The LLMCall ledger: one row per request, refusal or skip, for GMs and for cost accounting."""

from __future__ import annotations

from decimal import Decimal

from aiworld.models import LLMCall, LLMProvider

PURPOSE_MAX = LLMCall._meta.get_field("purpose").max_length
ERROR_MAX = 2000  # a provider's error page can be huge; the head says what went wrong


def record(provider: LLMProvider | None, purpose: str, outcome: str, *, prompt_tokens: int = 0,
           completion_tokens: int = 0, cost_usd: Decimal = Decimal("0"), latency_ms: float = 0.0,
           error: str = "") -> LLMCall:
    from aiworld.npc import metrics

    name = provider.name if provider is not None else "none"
    metrics.LLM_CALLS.labels(name, outcome).inc()
    if cost_usd:
        metrics.LLM_COST.labels(name).inc(float(cost_usd))
    return LLMCall.objects.create(provider=provider, purpose=purpose[:PURPOSE_MAX], outcome=outcome,
                                  prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                  cost_usd=cost_usd, latency_ms=latency_ms, error=error[:ERROR_MAX])
