"""LLM providers GMs configure, their daily budgets and every call made."""

from decimal import Decimal

from django.db import models


class LLMProvider(models.Model):
    """One OpenAI-compatible endpoint in the chain; tried in `order`, lowest first."""

    class Kind(models.TextChoices):
        OPENAI = "openai"
        AZURE = "azure"
        DEEPSEEK = "deepseek"
        OLLAMA = "ollama"
        VLLM = "vllm"
        ANTHROPIC = "anthropic", "anthropic (OpenAI-compatible endpoint)"
        OTHER = "other"

    name = models.CharField(max_length=60, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.OPENAI)
    order = models.PositiveSmallIntegerField(default=10, db_index=True)
    enabled = models.BooleanField(default=True)
    base_url = models.URLField(max_length=300, help_text="e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1")
    model = models.CharField(max_length=100)
    api_key_env = models.CharField(max_length=100, blank=True,
                                   help_text="name of the environment variable holding the key (never the key)")
    api_version = models.CharField(max_length=20, blank=True, help_text="Azure OpenAI only")
    price_prompt_per_mtok = models.DecimalField("USD per 1M prompt tokens", max_digits=10, decimal_places=4,
                                                default=Decimal("0"))
    price_completion_per_mtok = models.DecimalField("USD per 1M completion tokens", max_digits=10, decimal_places=4,
                                                    default=Decimal("0"))
    daily_budget_usd = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("1"))
    timeout_s = models.FloatField(default=20.0)
    max_output_tokens = models.PositiveIntegerField(default=300)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = "LLM provider"

    def __str__(self) -> str:
        return f"{self.order}. {self.name} ({self.model})"


class LLMBudgetDay(models.Model):
    """Spend of one provider on one UTC day. `reserved` holds the worst-case cost of calls in flight,
    so a conditional UPDATE can refuse a call that could overshoot the budget (aiworld.llm.budget)."""

    provider = models.ForeignKey(LLMProvider, on_delete=models.CASCADE, related_name="budget_days")
    day = models.DateField()
    spent_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    reserved_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    calls = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day", "provider"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "day"], name="one_budget_row_per_provider_day"),
            models.CheckConstraint(condition=models.Q(reserved_usd__gte=0), name="reserved_not_negative"),
        ]


class LLMCall(models.Model):
    """One request to a provider (or one answered without a call, with `outcome` saying how)."""

    provider = models.ForeignKey(LLMProvider, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls")
    purpose = models.CharField(max_length=40, db_index=True, help_text="the agent or feature that asked")
    outcome = models.CharField(max_length=20, db_index=True,
                               help_text="ok, error, timeout, rate_limited, over_budget, circuit_open, invalid, "
                                         "skipped, no_provider, interrupted")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    latency_ms = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "LLM call"
