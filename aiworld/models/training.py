"""The training side of the model registry: every training run and every evaluation, with metrics."""

from django.db import models

from aiworld.mobs.state import ARCHETYPES
from aiworld.models.serving import MODEL_TYPES


class TrainingRun(models.Model):
    """One training job of one model type for one archetype (a `train` queue task or the train command)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    archetype = models.CharField(max_length=20, choices=[(a, a) for a in ARCHETYPES])
    model_type = models.CharField(max_length=40, choices=[(t, t) for t in MODEL_TYPES])
    algorithm = models.CharField(max_length=20, blank=True)
    version = models.PositiveIntegerField(help_text="the model version this run produces")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    args = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    run_dir = models.CharField(max_length=500, blank=True, help_text="checkpoints and TensorBoard logs")
    device = models.CharField(max_length=40, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["archetype", "model_type", "version"], name="one_run_per_model_version"),
        ]

    def __str__(self) -> str:
        return f"{self.archetype}/{self.model_type}:{self.version} {self.status}"


class Evaluation(models.Model):
    """Paired-seed encounters of an ML pack against the traditional-AI pack (docs/learning.md: 'win')."""

    archetype = models.CharField(max_length=20, choices=[(a, a) for a in ARCHETYPES])
    model_type = models.CharField(max_length=40, choices=[(t, t) for t in MODEL_TYPES], default="fused")
    version = models.PositiveIntegerField()
    precision = models.CharField(max_length=4, default="fp32")
    scenarios = models.JSONField(default=list)
    encounters = models.PositiveIntegerField()
    wins = models.PositiveIntegerField()
    win_rate = models.FloatField()
    wilson_low = models.FloatField()
    wilson_high = models.FloatField()
    training_steps = models.PositiveBigIntegerField(default=0, help_text="environment steps behind the candidate")
    report = models.JSONField(default=dict, blank=True)
    promoted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.archetype}/{self.model_type}:{self.version} {self.win_rate:.1%} of {self.encounters}"
