"""Admin for the LLM chain: GMs edit providers and budgets, read the daily ledger and every call."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin, messages
from django.db.models import DecimalField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from aiworld.admin.serving import ReadOnlyAdmin
from aiworld.llm import breaker, budget, providers
from aiworld.models import LLMBudgetDay, LLMCall, LLMProvider


def _today(column: str) -> Coalesce:
    rows = LLMBudgetDay.objects.filter(provider=OuterRef("pk"), day=budget.today()).values(column)[:1]
    money = DecimalField(max_digits=12, decimal_places=6)
    return Coalesce(Subquery(rows, output_field=money), Value(Decimal("0")), output_field=money)


@admin.register(LLMProvider)
class LLMProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "order", "enabled", "kind", "model", "daily_budget_usd", "spent_today", "reserved_today",
                    "circuit", "key")
    list_editable = ("order", "enabled")
    list_filter = ("enabled", "kind")
    search_fields = ("name", "model", "base_url")
    actions = ["reset_circuit_breaker"]
    fieldsets = (
        (None, {"fields": ("name", "kind", "order", "enabled")}),
        ("Endpoint", {"fields": ("base_url", "model", "api_key_env", "api_version", "timeout_s")}),
        ("Cost", {"fields": ("price_prompt_per_mtok", "price_completion_per_mtok", "daily_budget_usd",
                             "max_output_tokens"),
                  "description": "The budget is hard: a call runs only if its worst case (prompt bytes x prompt "
                                 "price + max output tokens x completion price) fits what is left today (UTC)."}),
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "base_url":
            kwargs["assume_scheme"] = "https"  # Django 6's default, today; local servers type their http://
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(spent_today=_today("spent_usd"),
                                                      reserved_today=_today("reserved_usd"))

    @admin.display(description="spent today (USD)", ordering="spent_today")
    def spent_today(self, obj: LLMProvider) -> Decimal:
        return obj.spent_today

    @admin.display(description="in flight (USD)", ordering="reserved_today")
    def reserved_today(self, obj: LLMProvider) -> Decimal:
        return obj.reserved_today

    @admin.display(description="circuit")
    def circuit(self, obj: LLMProvider) -> str:
        return breaker.state(obj.pk)

    @admin.display(description="usable (seen from this web process)")
    def key(self, obj: LLMProvider) -> str:
        reason = providers.skip_reason(obj)
        if reason is not None:
            return f"skipped: {reason}"
        return "key set" if obj.api_key_env else "yes (no key needed)"

    @admin.action(description="Reset the circuit breaker (try the provider again now)")
    def reset_circuit_breaker(self, request, queryset):
        for provider in queryset:
            breaker.reset(provider.pk)
        self.message_user(request, f"Circuit breaker reset for {queryset.count()} provider(s).", messages.SUCCESS)


@admin.register(LLMBudgetDay)
class LLMBudgetDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "provider", "spent_usd", "reserved_usd", "calls", "refused")
    list_filter = ("provider", "day")
    date_hierarchy = "day"


@admin.register(LLMCall)
class LLMCallAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "purpose", "provider", "outcome", "prompt_tokens", "completion_tokens", "cost_usd",
                    "latency_ms")
    list_filter = ("outcome", "provider", "purpose")
    search_fields = ("purpose", "error")
    date_hierarchy = "created_at"
