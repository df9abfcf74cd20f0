"""GM admin for the NPC side: characters, memories, quests, economy, world events, agent runs, keys.

Thin by design: querysets do the joins, actions call services and report counts.
"""

from django.contrib import admin, messages

from aiworld.admin.serving import ReadOnlyAdmin
from aiworld.models import (
    NPC,
    AgentRun,
    ApiKey,
    DialogueTurn,
    EconomicAgent,
    EconomyReport,
    Faction,
    Item,
    Market,
    Memory,
    PlayerCharacter,
    Price,
    ProductionChain,
    Quest,
    Relationship,
    Reputation,
    TradeRoute,
    WorldEvent,
    WorldState,
)
from aiworld.npc.reputation import tier


@admin.register(Faction)
class FactionAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "home_map")
    list_filter = ("kind",)
    search_fields = ("name",)
    filter_horizontal = ("rivals",)


@admin.register(NPC)
class NPCAdmin(admin.ModelAdmin):
    list_display = ("name", "game_id", "job_class", "map", "mood", "faction", "active", "alignment")
    list_filter = ("active", "mood", "map", "faction")
    search_fields = ("name", "game_id", "backstory")
    readonly_fields = ("importance_since_reflection", "updated_at")
    fieldsets = (
        (None, {"fields": ("game_id", "name", "job_class", "map", "x", "y", "faction", "active", "mood", "quirks",
                           "backstory")}),
        ("Big Five (0..1)", {"fields": ("openness", "conscientiousness", "extraversion", "agreeableness",
                                        "neuroticism")}),
        ("Moral axes (-1..1)", {"fields": ("altruism", "lawful", "honest")}),
        ("Memory", {"fields": ("importance_since_reflection", "updated_at")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("faction")

    @admin.display(description="alignment")
    def alignment(self, obj: NPC) -> str:
        from aiworld.agents.personality import alignment

        return alignment(obj.altruism, obj.lawful, obj.honest)


@admin.register(PlayerCharacter)
class PlayerCharacterAdmin(admin.ModelAdmin):
    list_display = ("name", "server", "char_id", "karma", "last_seen")
    search_fields = ("name", "char_id")
    list_filter = ("server",)


@admin.register(Relationship)
class RelationshipAdmin(admin.ModelAdmin):
    list_display = ("npc", "player", "affinity", "trust", "interactions", "last_interaction")
    search_fields = ("npc__name", "player__name")
    list_select_related = ("npc", "player")
    raw_id_fields = ("npc", "player")


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    list_display = ("npc", "player", "kind", "importance", "short_text", "created_at", "last_accessed", "access_count")
    list_filter = ("kind", "importance")
    search_fields = ("text", "npc__name", "player__name")
    list_select_related = ("npc", "player")
    raw_id_fields = ("npc", "player")
    exclude = ("embedding",)  # 256 floats help nobody; recomputed from the text by the memory service
    readonly_fields = ("kind", "evidence", "created_at", "last_accessed", "access_count")

    def has_add_permission(self, request) -> bool:
        return False  # memories come from the memory service, which embeds them

    @admin.display(description="text")
    def short_text(self, obj: Memory) -> str:
        return obj.text[:100]


@admin.register(Reputation)
class ReputationAdmin(admin.ModelAdmin):
    list_display = ("player", "faction", "points", "tier", "updated_at")
    list_filter = ("faction",)
    search_fields = ("player__name",)
    list_select_related = ("player", "faction")
    raw_id_fields = ("player",)

    @admin.display(description="tier")
    def tier(self, obj: Reputation) -> str:
        return tier(obj.points)


@admin.register(DialogueTurn)
class DialogueTurnAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "npc", "player", "player_text", "reply", "emotion", "relationship_delta", "source",
                    "flagged", "latency_ms")
    list_filter = ("source", "emotion")
    search_fields = ("player_text", "reply", "npc__name", "player__name", "request_id")
    list_select_related = ("npc", "player")


@admin.register(Quest)
class QuestAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "difficulty", "trigger", "status", "giver", "player", "source", "created_at")
    list_filter = ("status", "kind", "difficulty", "trigger", "source")
    search_fields = ("title", "description", "player__name", "giver__name")
    list_select_related = ("giver", "player")
    raw_id_fields = ("giver", "player")


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("item_id", "name", "base_price")
    search_fields = ("name", "item_id")


class PriceInline(admin.TabularInline):
    model = Price
    extra = 0
    raw_id_fields = ("item",)


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = ("map",)
    inlines = [PriceInline]


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("market", "item", "price", "supply", "demand", "updated_at")
    list_filter = ("market",)
    search_fields = ("item__name",)
    list_select_related = ("market", "item")


@admin.register(EconomicAgent)
class EconomicAgentAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "market", "wealth")
    list_filter = ("kind", "market")
    list_select_related = ("market",)


admin.site.register(ProductionChain)


@admin.register(TradeRoute)
class TradeRouteAdmin(admin.ModelAdmin):
    list_display = ("origin", "destination", "item", "risk", "active")
    list_select_related = ("origin", "destination", "item")


@admin.register(EconomyReport)
class EconomyReportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "server", "kind", "map", "item_id", "units", "price", "applied")
    list_filter = ("kind", "applied", "server", "map")


@admin.register(WorldState)
class WorldStateAdmin(ReadOnlyAdmin):
    list_display = ("server", "map", "state", "updated_at")
    list_filter = ("server",)


@admin.register(WorldEvent)
class WorldEventAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "map", "status", "agent", "source", "starts_at", "ends_at")
    list_filter = ("status", "kind", "agent", "source")
    search_fields = ("title", "description", "map")
    actions = ["cancel_events"]

    @admin.action(description="Cancel the selected events")
    def cancel_events(self, request, queryset):
        count = queryset.exclude(status=WorldEvent.Status.ENDED).update(status=WorldEvent.Status.CANCELLED)
        self.message_user(request, f"{count} event(s) cancelled.", messages.SUCCESS)


@admin.register(AgentRun)
class AgentRunAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "agent", "path", "reason", "valid", "cost_usd", "latency_ms")
    list_filter = ("agent", "path", "valid")
    search_fields = ("reason", "error")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "server", "prefix", "active", "created_at", "last_used")
    list_filter = ("active", "server")
    readonly_fields = ("prefix", "key_sha256", "created_at", "last_used")
    actions = ["deactivate"]

    def has_add_permission(self, request) -> bool:
        return False  # `manage.py create_api_key` prints the key once; the admin never sees it

    @admin.action(description="Deactivate the selected keys")
    def deactivate(self, request, queryset):
        count = queryset.update(active=False)
        self.message_user(request, f"{count} key(s) deactivated.", messages.SUCCESS)
