from django.contrib import admin, messages

from aiworld.models import FallbackEvent, InferenceStats, ModelVersion, ServingPolicy
from aiworld.services import registry


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("archetype", "model_type", "version", "precision", "status", "fusion_weight", "size_bytes",
                    "created_at", "activated_at")
    list_filter = ("status", "archetype", "model_type", "precision")
    search_fields = ("path", "sha256")
    readonly_fields = ("archetype", "model_type", "version", "precision", "path", "sha256", "size_bytes", "metrics",
                       "status", "created_at", "activated_at")
    actions = ["activate_versions", "retire_versions"]

    def has_add_permission(self, request) -> bool:
        return False  # files come from `export_onnx`, which registers them

    @admin.action(description="Activate the selected versions (retires the previously active ones)")
    def activate_versions(self, request, queryset):
        pairs = set(queryset.values_list("archetype", "model_type", "version"))
        count = sum(registry.activate(*pair) for pair in pairs)
        self.message_user(request, f"{count} model file(s) activated; workers reload within a second.",
                          messages.SUCCESS)

    @admin.action(description="Retire the selected versions")
    def retire_versions(self, request, queryset):
        count = registry.retire(queryset)
        self.message_user(request, f"{count} model file(s) retired.", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        registry.bump_generation()  # a changed fusion weight reaches the workers


@admin.register(ServingPolicy)
class ServingPolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "forced_level", "difficulty", "updated_at")

    def has_add_permission(self, request) -> bool:
        return not ServingPolicy.objects.exists()

    def save_model(self, request, obj, form, change):
        registry.set_policy(forced_level=obj.forced_level, difficulty=obj.difficulty)
        self.message_user(request, "Serving policy saved; every gpu worker applies it within a second.")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the workers: GMs look and filter, never edit."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FallbackEvent)
class FallbackEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "worker", "from_level", "to_level", "reason")
    list_filter = ("to_level", "worker")
    date_hierarchy = "created_at"


@admin.register(InferenceStats)
class InferenceStatsAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "worker", "level", "decisions", "batches", "errors", "latency_p50_ms",
                    "latency_p99_ms", "cache_hit_rate")
    list_filter = ("worker", "level")
    date_hierarchy = "created_at"
