"""Monster-decision serving: the model registry, GM controls and what GMs see of the fallback."""

from django.db import models

from aiworld.mobs.state import ARCHETYPES

MODEL_TYPES = (
    "combat_dqn", "movement_ppo", "skill_dqn", "threat_assessment", "team_coordination",
    "spatial_vit", "temporal_transformer", "pattern_recognition", "soft_actor_critic",
    "fused",  # one network that already contains the fusion of the others (served alone)
)


class ModelVersion(models.Model):
    """One ONNX file of one version of one model for one archetype."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate"
        ACTIVE = "active"
        RETIRED = "retired"

    class Precision(models.TextChoices):
        FP32 = "fp32"
        FP16 = "fp16"
        INT8 = "int8"

    archetype = models.CharField(max_length=20, choices=[(a, a) for a in ARCHETYPES])
    model_type = models.CharField(max_length=40, choices=[(t, t) for t in MODEL_TYPES])
    version = models.PositiveIntegerField()
    precision = models.CharField(max_length=4, choices=Precision.choices)
    path = models.CharField(max_length=500, help_text="absolute, or relative to AIWORLD_MODELS_DIR")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField(default=0)
    fusion_weight = models.FloatField(default=1.0, help_text="weight of this model's vote in the fused decision")
    metrics = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CANDIDATE, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["archetype", "model_type", "-version", "precision"]
        constraints = [
            models.UniqueConstraint(fields=["archetype", "model_type", "version", "precision"],
                                    name="one_file_per_model_version_precision"),
        ]

    def __str__(self) -> str:
        return f"{self.archetype}/{self.model_type}:{self.version}/{self.precision} ({self.status})"


class ServingPolicy(models.Model):
    """GM controls for monster decisions (one row)."""

    forced_level = models.PositiveSmallIntegerField(
        null=True, blank=True, choices=[(1, "1 GPU FP16"), (2, "2 GPU INT8"), (3, "3 CPU INT8"), (4, "4 rules"),
                                        (5, "5 traditional AI")],
        help_text="pin every gpu worker to this fallback level; empty: automatic")
    difficulty = models.FloatField(default=1.0, help_text="0..1, multiplied with the map server's knob per monster")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "serving policy"

    def __str__(self) -> str:
        return f"forced level {self.forced_level or 'auto'}, difficulty {self.difficulty:g}"


class FallbackEvent(models.Model):
    """A worker changed fallback level."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    worker = models.CharField(max_length=200)
    from_level = models.PositiveSmallIntegerField()
    to_level = models.PositiveSmallIntegerField()
    reason = models.TextField()

    class Meta:
        ordering = ["-created_at"]


class InferenceStats(models.Model):
    """A worker's decisions over one reporting interval (recent inference statistics for GMs)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    worker = models.CharField(max_length=200, db_index=True)
    interval_s = models.FloatField()
    batches = models.PositiveIntegerField()
    decisions = models.PositiveIntegerField()
    errors = models.PositiveIntegerField()
    level = models.PositiveSmallIntegerField()
    latency_p50_ms = models.FloatField()
    latency_p99_ms = models.FloatField()
    cache_hit_rate = models.FloatField(null=True, blank=True)
    levels = models.JSONField(default=dict, help_text="decisions per level in the interval")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "inference stats"
