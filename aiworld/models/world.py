"""Quests, the economy, world events and what the agents produced."""

from django.db import models

QUEST_TYPES = ("fetch", "kill", "escort", "delivery", "explore", "dialogue", "craft", "investigate")
QUEST_DIFFICULTIES = ("trivial", "easy", "normal", "hard", "very_hard", "epic")
QUEST_TRIGGERS = ("real_time", "scheduled", "weather", "npc_specific", "location", "world_state", "internal",
                  "external", "relationship", "gift", "sequence")
ECONOMIC_AGENT_TYPES = ("merchant", "craftsman", "consumer", "investor")


class Quest(models.Model):
    class Status(models.TextChoices):
        OFFERED = "offered"
        ACCEPTED = "accepted"
        COMPLETED = "completed"
        FAILED = "failed"
        EXPIRED = "expired"

    giver = models.ForeignKey("aiworld.NPC", null=True, blank=True, on_delete=models.SET_NULL, related_name="quests")
    player = models.ForeignKey("aiworld.PlayerCharacter", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="quests")
    title = models.CharField(max_length=120)
    description = models.TextField()
    kind = models.CharField(max_length=12, choices=[(k, k) for k in QUEST_TYPES])
    difficulty = models.CharField(max_length=10, choices=[(d, d) for d in QUEST_DIFFICULTIES], default="normal")
    trigger = models.CharField(max_length=14, choices=[(t, t) for t in QUEST_TRIGGERS], default="npc_specific")
    objectives = models.JSONField(default=list, help_text='[{"kind": "kill", "target": 1002, "count": 10}, ...]')
    progress = models.JSONField(default=dict, help_text='{"counts": [per objective], "seen": [recent request ids]}')
    rewards = models.JSONField(default=dict, help_text='{"zeny": 500, "exp": 1200, "items": [[501, 3]]}')
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OFFERED, db_index=True)
    source = models.CharField(max_length=20, default="template", help_text="llm or template")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.kind}, {self.difficulty}, {self.status})"


class Item(models.Model):
    item_id = models.PositiveIntegerField(unique=True, help_text="rAthena item id")
    name = models.CharField(max_length=100)
    base_price = models.PositiveIntegerField(help_text="zeny")

    class Meta:
        ordering = ["item_id"]

    def __str__(self) -> str:
        return f"{self.name} #{self.item_id}"


class Market(models.Model):
    map = models.CharField(max_length=40, unique=True)

    def __str__(self) -> str:
        return self.map


class Price(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="prices")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="prices")
    price = models.PositiveIntegerField()
    supply = models.IntegerField(default=0, help_text="units reported in (drops, sales) over the last window")
    demand = models.IntegerField(default=0, help_text="units reported out (purchases) over the last window")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["market", "item"], name="one_price_per_market_item")]


class EconomicAgent(models.Model):
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=[(k, k) for k in ECONOMIC_AGENT_TYPES])
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="agents")
    npc = models.ForeignKey("aiworld.NPC", null=True, blank=True, on_delete=models.SET_NULL)
    wealth = models.BigIntegerField(default=10_000)
    inventory = models.JSONField(default=dict, blank=True, help_text="item id -> units")

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.market})"


class ProductionChain(models.Model):
    name = models.CharField(max_length=100, unique=True)
    inputs = models.JSONField(help_text="item id -> units consumed")
    output = models.ForeignKey(Item, on_delete=models.CASCADE)
    output_units = models.PositiveIntegerField(default=1)
    minutes = models.PositiveIntegerField(default=60)

    def __str__(self) -> str:
        return self.name


class TradeRoute(models.Model):
    origin = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="routes_out")
    destination = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="routes_in")
    item = models.ForeignKey(Item, on_delete=models.CASCADE)
    risk = models.FloatField(default=0.1, help_text="0..1, chance a caravan is lost")
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["origin", "destination", "item"], name="one_route")]


class EconomyReport(models.Model):
    """A trade or a drop reported by a map server (the economy agents' input)."""

    class Kind(models.TextChoices):
        TRADE = "trade"
        DROP = "drop"
        NPC_SALE = "npc_sale"
        NPC_PURCHASE = "npc_purchase"

    server = models.CharField(max_length=64)
    report_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    map = models.CharField(max_length=40)
    item_id = models.PositiveIntegerField()
    units = models.PositiveIntegerField()
    price = models.PositiveIntegerField(default=0, help_text="zeny per unit, 0 for drops")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    applied = models.BooleanField(default=False, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["server", "report_id"], name="one_report_per_id")]


class WorldState(models.Model):
    """The latest state a map server reported for one map (players online, weather, time...)."""

    server = models.CharField(max_length=64)
    map = models.CharField(max_length=40)
    state = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["server", "map"], name="one_state_per_map")]


class WorldEvent(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned"
        ACTIVE = "active"
        ENDED = "ended"
        CANCELLED = "cancelled"

    agent = models.CharField(max_length=40, help_text="the agent that created it")
    kind = models.CharField(max_length=40, help_text="invasion, festival, hazard, weather, boss, treasure, ...")
    title = models.CharField(max_length=120)
    description = models.TextField()
    map = models.CharField(max_length=40, blank=True)
    effects = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED, db_index=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_events",
                               help_text="the event this one follows from (event chains)")
    source = models.CharField(max_length=20, default="template")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.kind}, {self.status})"


class AgentRun(models.Model):
    """One run of one agent: what went in, what came out, which path produced it and why."""

    agent = models.CharField(max_length=40, db_index=True)
    path = models.CharField(max_length=10, help_text="llm or offline")
    reason = models.CharField(max_length=200, blank=True, help_text="why the offline path ran, if it did")
    inputs = models.JSONField(default=dict)
    output = models.JSONField(default=dict)
    valid = models.BooleanField(default=True)
    error = models.TextField(blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
