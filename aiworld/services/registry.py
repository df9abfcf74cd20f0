"""The model registry: register exported files, activate versions, tell workers to reload.

Workers watch a generation counter in the broker (one GET per second at most) and reload the active
set from the database when it changes, without a restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aiworld.models import ModelVersion, ServingPolicy

log = logging.getLogger("aiworld.registry")
GENERATION_KEY = "aiworld:serving:generation"


@dataclass(frozen=True)
class ModelSpec:
    id: int
    archetype: str
    model_type: str
    version: int
    precision: str
    path: Path
    sha256: str
    weight: float

    @property
    def label(self) -> str:
        return f"{self.model_type}:{self.version}"


@dataclass(frozen=True)
class ServingSnapshot:
    models: tuple[ModelSpec, ...]
    forced_level: int | None
    difficulty: float


def resolve_path(path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else Path(settings.AIWORLD_MODELS_DIR) / candidate


def _broker() -> redis.Redis:
    from aiworld.celery import app

    return redis.Redis.from_url(app.conf.broker_url, socket_timeout=2, socket_connect_timeout=2)


def bump_generation() -> None:
    """Tell every worker to reload, once the surrounding transaction has committed."""
    def bump() -> None:
        try:
            _broker().incr(GENERATION_KEY)
        except redis.RedisError as exc:  # workers still pick the change up on their next restart
            log.warning("could not signal the serving change to workers: %s", exc)

    transaction.on_commit(bump)


def current_generation(client: redis.Redis) -> int:
    return int(client.get(GENERATION_KEY) or 0)


def register(*, archetype: str, model_type: str, version: int, precision: str, path: Path,
             metrics: dict | None = None, fusion_weight: float = 1.0) -> ModelVersion:
    """Record an exported file as a candidate (idempotent for the same archetype/type/version/precision)."""
    from aiworld.mobs.onnx_export import sha256_of

    full = resolve_path(str(path))
    entry, _ = ModelVersion.objects.update_or_create(
        archetype=archetype, model_type=model_type, version=version, precision=precision,
        defaults={"path": str(path), "sha256": sha256_of(full), "size_bytes": full.stat().st_size,
                  "metrics": metrics or {}, "fusion_weight": fusion_weight},
    )
    return entry


@transaction.atomic
def activate(archetype: str, model_type: str, version: int) -> int:
    """Make one version (all its precisions) the active one; retire the previously active ones.
    Returns how many files became active."""
    now = timezone.now()
    ModelVersion.objects.filter(archetype=archetype, model_type=model_type, status=ModelVersion.Status.ACTIVE) \
        .exclude(version=version).update(status=ModelVersion.Status.RETIRED)
    count = ModelVersion.objects.filter(archetype=archetype, model_type=model_type, version=version) \
        .exclude(status=ModelVersion.Status.ACTIVE).update(status=ModelVersion.Status.ACTIVE, activated_at=now)
    bump_generation()
    return count


@transaction.atomic
def retire(queryset) -> int:
    count = queryset.exclude(status=ModelVersion.Status.RETIRED).update(status=ModelVersion.Status.RETIRED)
    bump_generation()
    return count


def policy() -> ServingPolicy:
    return ServingPolicy.objects.order_by("pk").first() or ServingPolicy.objects.create()


@transaction.atomic
def set_policy(*, forced_level: int | None = None, difficulty: float | None = None) -> ServingPolicy:
    current = policy()
    current.forced_level = forced_level
    if difficulty is not None:
        if not 0.0 <= difficulty <= 1.0:
            raise ValueError("difficulty must be in 0..1")
        current.difficulty = difficulty
    current.save()
    bump_generation()
    return current


def snapshot() -> ServingSnapshot:
    """What a worker serves: the active files and the GM's controls."""
    rows = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).order_by("archetype", "model_type")
    models = tuple(ModelSpec(id=row.id, archetype=row.archetype, model_type=row.model_type, version=row.version,
                             precision=row.precision, path=resolve_path(row.path), sha256=row.sha256,
                             weight=row.fusion_weight) for row in rows)
    current = ServingPolicy.objects.order_by("pk").first()
    return ServingSnapshot(models=models, forced_level=current.forced_level if current else None,
                           difficulty=current.difficulty if current else 1.0)
