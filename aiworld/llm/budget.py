"""Hard daily budgets per provider, enforced in PostgreSQL so every worker sees the same ledger.

Before a call the worst-case cost is reserved with ONE conditional UPDATE (the WHERE clause holds
the budget check, so two workers can never both pass on the same headroom: PostgreSQL re-checks the
WHERE on the row version the first one committed). After the call one UPDATE releases the
reservation and adds the actual cost. A worker that dies between the two leaves its reservation
held until the UTC day ends: the budget shrinks, it is never overshot.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from django.db import connection

from aiworld.models import LLMBudgetDay, LLMProvider

log = logging.getLogger("aiworld.llm.budget")

# A byte-level BPE token is at least one UTF-8 byte, so bytes bound the content's tokens. The chat
# template adds a few tokens per message (role, separators; OpenAI documents 3-4) and a few to prime
# the reply: the constants are generous so the bound holds for every tokenizer we know of.
TOKENS_PER_MESSAGE = 8
TOKENS_PER_REQUEST = 16
# The ledger columns keep 6 decimals; costs round UP so a rounded cost never undercounts.
USD_STEP = Decimal("0.000001")
MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Reservation:
    """A held worst-case amount; settle it exactly once, on the day it was taken."""

    provider_id: int
    day: dt.date
    amount_usd: Decimal


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def prompt_token_bound(messages: list[dict]) -> int:
    """An upper bound of the prompt tokens any byte-level tokenizer counts for these messages."""
    total = TOKENS_PER_REQUEST
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "role":
                continue
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            total += len(text.encode("utf-8"))
    return total


def cost_usd(provider: LLMProvider, prompt_tokens: int, completion_tokens: int) -> Decimal:
    raw = (Decimal(prompt_tokens) * provider.price_prompt_per_mtok
           + Decimal(completion_tokens) * provider.price_completion_per_mtok) / MILLION
    return raw.quantize(USD_STEP, rounding=ROUND_CEILING)


def worst_case_usd(provider: LLMProvider, messages: list[dict], max_tokens: int) -> Decimal:
    return cost_usd(provider, prompt_token_bound(messages), max_tokens)


def _table() -> str:
    return connection.ops.quote_name(LLMBudgetDay._meta.db_table)


def _provider_table() -> str:
    return connection.ops.quote_name(LLMProvider._meta.db_table)


def _ensure_day(cursor, provider_id: int, day: dt.date) -> None:
    cursor.execute(
        f"INSERT INTO {_table()} (provider_id, day, spent_usd, reserved_usd, calls, refused) "
        "VALUES (%s, %s, 0, 0, 0, 0) ON CONFLICT (provider_id, day) DO NOTHING",
        [provider_id, day])


def reserve(provider: LLMProvider, amount_usd: Decimal) -> Reservation | None:
    """Hold `amount_usd` of today's budget, or count a refusal and return None.

    The budget is read from the provider row inside the same statement, so a GM lowering it takes
    effect for the very next call on every worker.
    """
    day = today()
    with connection.cursor() as cursor:
        if _take(cursor, provider.pk, day, amount_usd):
            return Reservation(provider.pk, day, amount_usd)
        # No row matched: over budget, or the day's row does not exist yet (the first call of the day).
        _ensure_day(cursor, provider.pk, day)
        if cursor.rowcount == 1 and _take(cursor, provider.pk, day, amount_usd):
            return Reservation(provider.pk, day, amount_usd)
        cursor.execute(f"UPDATE {_table()} SET refused = refused + 1 WHERE provider_id = %s AND day = %s",
                       [provider.pk, day])
    return None


def _take(cursor, provider_id: int, day: dt.date, amount_usd: Decimal) -> bool:
    """The one conditional UPDATE that holds the money, or changes nothing."""
    cursor.execute(
        f"UPDATE {_table()} SET reserved_usd = reserved_usd + %s, calls = calls + 1 "
        "WHERE provider_id = %s AND day = %s AND spent_usd + reserved_usd + %s <= "
        f"(SELECT daily_budget_usd FROM {_provider_table()} WHERE id = %s)",
        [amount_usd, provider_id, day, amount_usd, provider_id])
    return cursor.rowcount == 1


def settle(reservation: Reservation, actual_usd: Decimal) -> None:
    """Release the reservation and charge what the call really cost (zero when nothing is known)."""
    if actual_usd > reservation.amount_usd:
        # Only a provider that ignores max_tokens or counts more than one token per byte gets here.
        log.error("provider %s charged %s, above the reserved worst case %s: the budget may be overshot",
                  reservation.provider_id, actual_usd, reservation.amount_usd)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table()} SET reserved_usd = reserved_usd - %s, spent_usd = spent_usd + %s "
            "WHERE provider_id = %s AND day = %s",
            [reservation.amount_usd, actual_usd, reservation.provider_id, reservation.day])


def has_headroom(provider: LLMProvider) -> bool:
    """Cheap check for `available()`: today's budget is not already spent or fully held."""
    row = LLMBudgetDay.objects.filter(provider=provider, day=today()).values("spent_usd", "reserved_usd").first()
    if row is None:
        return provider.daily_budget_usd > 0
    return row["spent_usd"] + row["reserved_usd"] < provider.daily_budget_usd
