"""Training on the `train` queue: members, whole archetypes, export and evaluation (docs/learning.md).

Payloads name the archetype and version, so a redelivered job continues the same version: finished
members are skipped, trainers resume from their checkpoints, a member another worker is training is
not trained twice (TrainingRun claim). torch and the trainers load inside the tasks only."""

from __future__ import annotations

from celery import shared_task

from aiworld.mobs.state import ARCHETYPES
from aiworld.services import training
from aiworld.tasks.base import IdempotentTask, PayloadError


def _optional_int(payload: dict, field: str, meaning: str) -> int | None:
    """The field's integer, or None when absent; ranges are checked by jobs.pipeline_args."""
    value = payload.get(field)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise PayloadError("invalid_payload", f"{field} must be an integer: {meaning}")
    return value


def _scale(payload: dict) -> float:
    scale = payload.get("scale", 1.0)
    if not isinstance(scale, int | float) or isinstance(scale, bool) or not 0 < scale <= 100:
        raise PayloadError("invalid_payload", "scale must be a number in (0, 100]")
    return float(scale)


def _payload(payload: object, *, member: bool = False) -> dict:
    if not isinstance(payload, dict):
        raise PayloadError("invalid_payload", "payload must be an object with archetype (and version, scale)")
    archetype = payload.get("archetype")
    if archetype not in ARCHETYPES:
        raise PayloadError("unknown_archetype", f"archetype must be one of {', '.join(ARCHETYPES)}")
    version = payload.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        raise PayloadError("invalid_payload", "version must be a positive integer")
    scale = _scale(payload)
    model_type = payload.get("model_type")
    if member and model_type not in training.MEMBER_TYPES:
        raise PayloadError("unknown_model_type", f"model_type must be one of {', '.join(training.MEMBER_TYPES)}")
    dagger_from = _optional_int(payload, "dagger_from", "an earlier version")
    continuations = _optional_int(payload, "continuations", "plays per candidate")
    procedural = _optional_int(payload, "procedural", "generated train scenarios") or 0
    kinds = payload.get("procedural_kinds", ["open"])  # checked with the other pipeline arguments (_args)
    blind_teacher = payload.get("blind_teacher", False)
    if not isinstance(blind_teacher, bool):
        raise PayloadError("invalid_payload", "blind_teacher must be true or false")
    return {"archetype": archetype, "version": version, "scale": scale, "model_type": model_type,
            "dagger_from": dagger_from, "continuations": continuations, "procedural": procedural,
            "procedural_kinds": kinds, "blind_teacher": blind_teacher}


def _args(p: dict):
    from trainers import jobs

    try:
        return jobs.pipeline_args(p["archetype"], p["version"] or training.current_version(p["archetype"]),
                                  scale=p["scale"], progress=False, dagger_from=p["dagger_from"],
                                  continuations=p["continuations"], procedural=p["procedural"],
                                  procedural_kinds=p["procedural_kinds"], blind_teacher=p["blind_teacher"])
    except ValueError as exc:  # dagger_from not an earlier version, a count out of range, an unknown map kind
        raise PayloadError("invalid_payload", str(exc)) from exc


@shared_task(name="aiworld.train.train_member", bind=True, base=IdempotentTask)
def train_member(self, payload: dict) -> dict:
    """{"archetype", "model_type", "version"?, "scale"?} -> the member's metrics."""
    from trainers import jobs

    p = _payload(payload, member=True)
    return jobs.train_member(_args(p), p["model_type"], worker=self.request.hostname or "")


@shared_task(name="aiworld.train.train_archetype", bind=True, base=IdempotentTask)
def train_archetype(self, payload: dict) -> dict:
    """{"archetype", "version"?, "scale"?, "dagger_from"?, "continuations"?, "procedural"?, "procedural_kinds"?,
    "blind_teacher"?}:
    nine members, fusion, export, evaluation, promotion; a promoted version is then distilled
    (aiworld.train.distill)."""
    from trainers import jobs

    p = _payload(payload)
    summary = jobs.run_archetype(_args(p), worker=self.request.hostname or "")
    if summary.get("evaluation", {}).get("promoted"):  # keep serving a cheap copy of what is now active
        training.queue_distill(p["archetype"], summary["version"], scale=p["scale"])
    return {"archetype": p["archetype"], "version": summary["version"],
            "evaluation": {k: summary.get("evaluation", {}).get(k)
                           for k in ("win_rate", "wilson_low", "wilson_high", "encounters", "promoted")}}


@shared_task(name="aiworld.train.distill", bind=True, base=IdempotentTask)
def distill(self, payload: dict) -> dict:
    """{"archetype", "version"?, "teacher_version"?, "scale"?}: a distilled copy of a fused version (default: the
    active one), exported, evaluated against its teacher, promoted when it holds its win rate."""
    from trainers import jobs

    p = _payload(payload)
    teacher = _optional_int(payload, "teacher_version", "the fused version to copy")
    try:
        result = jobs.distill(p["archetype"], p["version"], teacher_version=teacher, scale=p["scale"], progress=False,
                              worker=self.request.hostname or "")
    except ValueError as exc:  # no active model, a version taken, a teacher that is itself distilled
        raise PayloadError("invalid_payload", str(exc)) from exc
    return {"archetype": p["archetype"], "version": result["version"],
            "evaluation": {k: result.get(k) for k in ("win_rate", "wilson_low", "wilson_high", "encounters",
                                                       "promoted")},
            "teacher": result["teacher"]}


@shared_task(name="aiworld.train.nightly", base=IdempotentTask)
def nightly(payload: dict | None = None) -> list[str]:
    """celery-beat's nightly job: one new version per archetype, each its own train_archetype task."""
    scale = _scale(payload or {})
    return [training.queue_archetype(archetype, scale=scale) for archetype in ARCHETYPES]
