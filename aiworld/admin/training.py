"""Training runs and evaluations: GMs read them and queue training; the train workers write them."""

from django.contrib import admin, messages

from aiworld.admin.serving import ReadOnlyAdmin
from aiworld.models import Evaluation, TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ("archetype", "model_type", "version", "algorithm", "status", "device", "worker", "started_at",
                    "finished_at")
    list_filter = ("status", "archetype", "model_type", "algorithm")
    date_hierarchy = "created_at"
    actions = ["queue_archetype"]

    @admin.action(description="Train the selected runs' archetypes again (a new version each, on the train queue)")
    def queue_archetype(self, request, queryset):
        from aiworld.services import training

        archetypes = sorted(set(queryset.values_list("archetype", flat=True)))
        queued = [training.queue_archetype(archetype) for archetype in archetypes]
        self.message_user(request, f"{len(queued)} training job(s) queued: " + ", ".join(queued), messages.SUCCESS)


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdmin):
    list_display = ("archetype", "model_type", "version", "precision", "win_rate", "wilson_low", "wilson_high",
                    "encounters", "promoted", "created_at")
    list_filter = ("archetype", "promoted", "precision")
    date_hierarchy = "created_at"
