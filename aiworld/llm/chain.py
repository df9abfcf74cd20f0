"""The provider chain callers use: `complete()` tries enabled providers in order, each under its
hard budget and circuit breaker, and raises `NoLLM` when none answers, so the caller uses its
offline template path. Every call, refusal and skip leaves an LLMCall row."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction

from aiworld.errors import PayloadError
from aiworld.llm import attempt, breaker, budget, calls, providers
from aiworld.models import LLMProvider

log = logging.getLogger("aiworld.llm.chain")

ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
NO_LLM_REASONS = ("no_provider", "over_budget", "all_failed", "circuit_open")
_warned_in_transaction = False


@dataclass(frozen=True)
class Completion:
    text: str
    provider: str          # LLMProvider.name
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    latency_ms: float


class NoLLM(Exception):
    """No provider could answer; callers use their offline template path."""

    reason: str            # "no_provider" | "over_budget" | "all_failed" | "circuit_open"

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


def available() -> bool:
    """Cheap (no HTTP): an enabled provider exists whose circuit is not open and whose budget is not spent."""
    for provider in providers.enabled():
        if providers.skip_reason(provider) is None and not breaker.is_open(provider.pk) \
                and budget.has_headroom(provider):
            return True
    return False


def complete(messages: list[dict], *, purpose: str, max_tokens: int | None = None,
             temperature: float = 0.7, json_mode: bool = False,
             on_delta: Callable[[str], None] | None = None) -> Completion:
    """The first answer of the chain. Raises PayloadError for malformed messages, NoLLM when no provider answers.

    With `on_delta` the reply is streamed and each piece of text handed to it as it arrives. The chain
    falls back only before the first piece: once text reached the caller, a broken stream ends with
    NoLLM("all_failed") rather than mixing two providers' words.
    """
    validate(messages, max_tokens)
    _warn_if_in_transaction()
    chain = providers.enabled()
    if not chain:
        calls.record(None, purpose, "no_provider", error="no enabled LLM provider")
        raise NoLLM("no_provider", "no enabled LLM provider")
    outcomes: list[str] = []
    for provider in chain:
        outcome, completion = _try(provider, messages, purpose=purpose, max_tokens=max_tokens,
                                   temperature=temperature, json_mode=json_mode, on_delta=on_delta)
        if completion is not None:
            return completion
        if outcome == "broken_stream":
            raise NoLLM("all_failed", f"{provider.name}: the stream broke after text was delivered")
        outcomes.append(outcome)
    reason = _reason(outcomes)
    raise NoLLM(reason, ", ".join(f"{p.name}: {o}" for p, o in zip(chain, outcomes, strict=True)))


def _try(provider: LLMProvider, messages: list[dict], *, purpose: str, max_tokens: int | None,
         temperature: float, json_mode: bool,
         on_delta: Callable[[str], None] | None) -> tuple[str, Completion | None]:
    usable = providers.resolve(provider)
    if isinstance(usable, providers.Skipped):
        calls.record(provider, purpose, "skipped", error=usable.reason)
        return "skipped", None
    gate = breaker.gate(provider.pk, provider.timeout_s)
    if gate is breaker.Gate.OPEN:
        calls.record(provider, purpose, "circuit_open")
        return "circuit_open", None
    # The row's cap is what the API is sent, so the reserved worst case really bounds the cost.
    limit = min(max_tokens or provider.max_output_tokens, provider.max_output_tokens)
    worst = budget.worst_case_usd(provider, messages, limit)
    reservation = budget.reserve(provider, worst)
    if reservation is None:
        if gate is breaker.Gate.PROBE:
            breaker.release_probe(provider.pk)
        calls.record(provider, purpose, "over_budget", error=f"worst case {worst} USD does not fit today's budget")
        return "over_budget", None
    # If the call is interrupted (a task's soft time limit), the request may have been billed: charge the worst case.
    result = attempt.Attempt("interrupted", error="interrupted (time limit?) during the request")
    try:
        result = attempt.call(usable.client, model=provider.model, messages=messages, max_tokens=limit,
                              temperature=temperature, json_mode=json_mode, on_delta=on_delta)
    finally:
        cost, note = _charge(provider, result, worst)
        with transaction.atomic():  # one commit for both: the ledger and its row never disagree
            budget.settle(reservation, cost)
            calls.record(provider, purpose, result.outcome, prompt_tokens=result.prompt_tokens or 0,
                         completion_tokens=result.completion_tokens or 0, cost_usd=cost,
                         latency_ms=result.latency_ms, error="; ".join(part for part in (result.error, note) if part))
    if result.ok:
        breaker.record_success(provider.pk)
        return "ok", Completion(text=result.text, provider=provider.name, model=result.model or provider.model,
                                prompt_tokens=result.prompt_tokens or 0,
                                completion_tokens=result.completion_tokens or 0, cost_usd=cost,
                                latency_ms=result.latency_ms)
    if result.provider_fault:
        breaker.record_failure(provider.pk, retry_after_s=result.retry_after_s)
    if result.delivered:
        return "broken_stream", None
    log.info("LLM provider %s failed (%s), trying the next one: %s", provider.name, result.outcome, result.error)
    return result.outcome, None


def _charge(provider: LLMProvider, result: attempt.Attempt, worst: Decimal) -> tuple[Decimal, str]:
    """What the call cost: from its usage tokens; the worst case when text came without usage (the
    provider bills what it generated); nothing for a failed request that reported none."""
    if result.prompt_tokens is not None and result.completion_tokens is not None:
        return budget.cost_usd(provider, result.prompt_tokens, result.completion_tokens), ""
    if result.outcome in ("ok", "invalid", "interrupted") or result.delivered:
        return worst, "no usage reported: charged the worst case"
    return Decimal("0"), ""


def _reason(outcomes: list[str]) -> str:
    if any(o not in ("skipped", "over_budget", "circuit_open") for o in outcomes):
        return "all_failed"
    if "over_budget" in outcomes:
        return "over_budget"
    if "circuit_open" in outcomes:
        return "circuit_open"
    return "no_provider"


def validate(messages: list[dict], max_tokens: int | None) -> None:
    if not isinstance(messages, list) or not messages:
        raise PayloadError("llm_messages", "messages must be a non-empty list")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise PayloadError("llm_messages", f"message {index} needs a role among {sorted(ROLES)}")
        if not isinstance(message.get("content"), str | list):
            raise PayloadError("llm_messages", f"message {index} needs a string (or parts list) content")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise PayloadError("llm_max_tokens", "max_tokens must be a positive integer")


def _warn_if_in_transaction() -> None:
    global _warned_in_transaction
    if connection.in_atomic_block and not _warned_in_transaction:
        _warned_in_transaction = True
        log.warning("LLM complete() called inside a transaction: the budget row stays locked for the whole "
                    "HTTP call and a rollback would undo the charge; call it outside transaction.atomic")
