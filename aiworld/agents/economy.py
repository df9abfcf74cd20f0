"""The economy agent (prices from the trades and drops map servers report) and the merchant economy
agent (what the market's economic agents buy and sell). Both write Price rows; bounds in apply
hold whatever path produced the numbers, so no model can crash a market in one tick."""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from django.db.models import F
from pydantic import BaseModel, ConfigDict, Field

from aiworld.agents.base import Agent, Strict, Text, clamp
from aiworld.models import EconomicAgent, EconomyReport, Item, Market, Price

MAX_STEP = 0.20            # a price moves at most 20% per tick
FLOOR, CEILING = 0.25, 4.0  # and stays within 0.25x..4x its base price
SENSITIVITY = 0.5


class MarketInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    market: str = Field(min_length=1, max_length=40, description="the market's map")


class Adjustment(Strict):
    item_id: int = Field(ge=1)
    price: int = Field(ge=1, le=100_000_000)
    reason: str = Text(120)


class EconomyOutput(Strict):
    adjustments: list[Adjustment] = Field(max_length=100)
    summary: str = Text(300)


def _flows(market: str, report_ids: list[int] | None = None) -> dict[int, tuple[int, int]]:
    """item id -> (supply, demand) from the market's unapplied reports (or exactly `report_ids`): drops
    and sales to NPCs add supply, purchases from NPCs and player trades show demand."""
    flows: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    reports = EconomyReport.objects.filter(map=market, applied=False)
    if report_ids is not None:
        reports = reports.filter(pk__in=report_ids)
    for kind, item_id, units in reports.values_list("kind", "item_id", "units"):
        side = 0 if kind in (EconomyReport.Kind.DROP, EconomyReport.Kind.NPC_SALE) else 1
        flows[item_id][side] += units
    return {k: (v[0], v[1]) for k, v in flows.items()}


def bounded(old: int, base: int, wanted: float) -> int:
    wanted = clamp(wanted, old * (1 - MAX_STEP), old * (1 + MAX_STEP))
    return max(1, round(clamp(wanted, base * FLOOR, base * CEILING)))


def economy_offline(inputs: MarketInputs) -> EconomyOutput:
    flows = _flows(inputs.market)
    prices = {p.item.item_id: p for p in Price.objects.filter(market__map=inputs.market).select_related("item")}
    items = {i.item_id: i for i in Item.objects.filter(item_id__in=set(flows) | set(prices))}
    adjustments = []
    for item_id in sorted(items):
        item = items[item_id]
        old = prices[item_id].price if item_id in prices else item.base_price
        supply, demand = flows.get(item_id, (0, 0))
        if supply or demand:
            # excess demand raises, excess supply lowers; +10 damps thin markets
            new = bounded(old, item.base_price, old * (1 + SENSITIVITY * (demand - supply) / (demand + supply + 10)))
            reason = f"supply {supply}, demand {demand}"
        else:
            new = bounded(old, item.base_price, old + (item.base_price - old) * 0.1)  # drift back to base
            reason = "no trades: drifting toward base price"
        if new != old or item_id not in prices:
            adjustments.append(Adjustment(item_id=item_id, price=new, reason=reason))
    up = sum(1 for a in adjustments if a.price > (prices[a.item_id].price if a.item_id in prices else 0))
    units = sum(map(sum, flows.values()))
    return EconomyOutput(adjustments=adjustments, summary=f"{inputs.market}: {len(adjustments)} price changes "
                         f"({up} up, {len(adjustments) - up} down) from {units} units reported.")


def economy_apply(output: EconomyOutput, inputs: MarketInputs) -> dict:
    market, _ = Market.objects.get_or_create(map=inputs.market)
    # the reports counted are the reports marked applied: one arriving meanwhile waits for the next tick
    report_ids = list(EconomyReport.objects.filter(map=inputs.market, applied=False).values_list("pk", flat=True))
    flows = _flows(inputs.market, report_ids)
    items = {i.item_id: i for i in Item.objects.filter(item_id__in=[a.item_id for a in output.adjustments])}
    changed = 0
    for adj in output.adjustments:
        item = items.get(adj.item_id)
        if item is None:
            raise ValueError(f"unknown item id {adj.item_id}")
        price, _ = Price.objects.get_or_create(market=market, item=item, defaults={"price": item.base_price})
        price.price = bounded(price.price, item.base_price, adj.price)
        price.supply, price.demand = flows.get(adj.item_id, (0, 0))
        price.save()
        changed += 1
    reports = EconomyReport.objects.filter(pk__in=report_ids).update(applied=True)
    return {"prices": changed, "reports": reports}


def _economy_context(inputs: MarketInputs) -> dict:
    return {"flows": {str(k): {"supply": s, "demand": d} for k, (s, d) in _flows(inputs.market).items()},
            "prices": list(Price.objects.filter(market__map=inputs.market)
                           .values("item__item_id", "item__name", "item__base_price", "price")[:100]),
            "rules": f"price moves at most {MAX_STEP:.0%} per tick, within {FLOOR}x..{CEILING}x base"}


# -- merchant economy -------------------------------------------------------------------------------
class Trade(Strict):
    agent_id: int = Field(ge=1, description="EconomicAgent pk")
    item_id: int = Field(ge=1)
    action: Literal["buy", "sell"]
    units: int = Field(ge=1, le=1000)


class MerchantOutput(Strict):
    trades: list[Trade] = Field(max_length=50)
    summary: str = Text(300)


def merchant_offline(inputs: MarketInputs) -> MerchantOutput:
    prices = {p.item.item_id: p for p in Price.objects.filter(market__map=inputs.market).select_related("item")}
    trades = []
    for agent in EconomicAgent.objects.filter(market__map=inputs.market).order_by("pk"):
        stock = {int(k): int(v) for k, v in (agent.inventory or {}).items()}
        purse = agent.wealth  # what is left to spend this tick
        for item_id, price in sorted(prices.items()):
            ratio = price.price / max(1, price.item.base_price)
            have = stock.get(item_id, 0)
            # merchants and investors buy below 90% of base and sell above 110%; consumers only buy, cheaply
            if agent.kind in ("merchant", "investor") and ratio >= 1.1 and have:
                trades.append(Trade(agent_id=agent.pk, item_id=item_id, action="sell", units=min(have, 1000)))
            elif ratio <= (0.9 if agent.kind != "consumer" else 1.0) and agent.kind != "craftsman":
                units = min(1000, int(purse * 0.2) // max(1, price.price))
                if units:
                    purse -= units * price.price
                    trades.append(Trade(agent_id=agent.pk, item_id=item_id, action="buy", units=units))
    sells = sum(1 for t in trades if t.action == "sell")
    return MerchantOutput(trades=trades[:50], summary=f"{inputs.market}: {len(trades) - sells} purchases, "
                          f"{sells} sales by the market's traders.")


def merchant_apply(output: MerchantOutput, inputs: MarketInputs) -> dict:
    done = 0
    for trade in output.trades:
        agent = EconomicAgent.objects.select_for_update().get(pk=trade.agent_id, market__map=inputs.market)
        price = Price.objects.select_for_update().get(market__map=inputs.market, item__item_id=trade.item_id)
        stock = {str(k): int(v) for k, v in (agent.inventory or {}).items()}
        key, total = str(trade.item_id), trade.units * price.price
        if trade.action == "buy":
            if total > agent.wealth:
                raise ValueError(f"agent {agent.pk} cannot afford {trade.units} x {trade.item_id}")
            agent.wealth -= total
            stock[key] = stock.get(key, 0) + trade.units
            Price.objects.filter(pk=price.pk).update(demand=F("demand") + trade.units)
        else:
            if stock.get(key, 0) < trade.units:
                raise ValueError(f"agent {agent.pk} holds fewer than {trade.units} of {trade.item_id}")
            agent.wealth += total
            stock[key] -= trade.units
            Price.objects.filter(pk=price.pk).update(supply=F("supply") + trade.units)
        agent.inventory = {k: v for k, v in stock.items() if v}
        agent.save(update_fields=["wealth", "inventory"])
        done += 1
    return {"trades": done}


def _merchant_context(inputs: MarketInputs) -> dict:
    return _economy_context(inputs) | {"agents": list(EconomicAgent.objects.filter(market__map=inputs.market)
                                                      .values("id", "kind", "wealth", "inventory")[:50])}


AGENTS_HERE = (
    Agent("economy", "periodic", "Market economist", "Keep a market's prices in line with supply and demand",
          "You set fair prices from what players trade and what monsters drop.",
          "Adjust the market's prices from the reported supply and demand; explain each change briefly.",
          MarketInputs, EconomyOutput, economy_offline, economy_apply, _economy_context,
          "Price rows (bounded steps) from unapplied EconomyReports, which are marked applied"),
    Agent("merchant_economy", "periodic", "Merchant guild master", "Have the market's traders buy low and sell high",
          "You run the merchants, craftsmen, investors and consumers of a market.",
          "Decide this tick's trades for the market's economic agents (only what they can afford or hold).",
          MarketInputs, MerchantOutput, merchant_offline, merchant_apply, _merchant_context,
          "EconomicAgent wealth/inventory and Price supply/demand"),
)
