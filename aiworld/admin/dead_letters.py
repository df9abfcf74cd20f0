from django.contrib import admin, messages

from aiworld.models import DeadLetter
from aiworld.services.dead_letters import resolve_dead_letters


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ("created_at", "task_name", "queue", "source", "error_code", "short_message", "resolved_at")
    list_filter = ("error_code", "queue", "task_name", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("task_id", "source", "error_message")
    readonly_fields = [f.name for f in DeadLetter._meta.fields if f.name != "resolved_at"]
    date_hierarchy = "created_at"
    actions = ["mark_resolved"]

    @admin.display(description="message")
    def short_message(self, obj: DeadLetter) -> str:
        return obj.error_message[:120]

    @admin.action(description="Mark selected dead letters resolved")
    def mark_resolved(self, request, queryset):
        count = resolve_dead_letters(queryset)
        self.message_user(request, f"{count} dead letter(s) marked resolved.", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False
