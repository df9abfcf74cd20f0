"""Training runs and evaluations in the registry (PostgreSQL). No torch here: the `train` tasks and the
train/export/evaluate commands call these around the trainers (trainers/pipeline.py)."""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from aiworld.mobs.state import ARCHETYPES
from aiworld.models import Evaluation, ModelVersion, TrainingRun
from aiworld.models.serving import MODEL_TYPES
from aiworld.services import registry

log = logging.getLogger("aiworld.training")

MEMBER_TYPES = tuple(t for t in MODEL_TYPES if t != "fused")


def check_names(archetype: str, model_type: str | None = None) -> None:
    if archetype not in ARCHETYPES:
        raise ValueError(f"unknown archetype {archetype!r}; one of {', '.join(ARCHETYPES)}")
    if model_type is not None and model_type not in MODEL_TYPES:
        raise ValueError(f"unknown model type {model_type!r}; one of {', '.join(MODEL_TYPES)}")


def next_version(archetype: str) -> int:
    """One past the highest version any run, file or evaluation of this archetype used."""
    check_names(archetype)
    highest = max(
        TrainingRun.objects.filter(archetype=archetype).aggregate(v=Max("version"))["v"] or 0,
        ModelVersion.objects.filter(archetype=archetype).aggregate(v=Max("version"))["v"] or 0,
    )
    return highest + 1


def create_run(*, archetype: str, model_type: str, version: int, algorithm: str, args: dict) -> TrainingRun:
    """The run of (archetype, model_type, version); a duplicate request returns the existing row."""
    check_names(archetype, model_type)
    run, _ = TrainingRun.objects.get_or_create(
        archetype=archetype, model_type=model_type, version=version,
        defaults={"algorithm": algorithm, "args": args},
    )
    return run


def claim(run_id: int, *, worker: str, device: str) -> bool:
    """Mark a queued (or failed, being retried) run as running; False if another worker has it or it is done."""
    count = TrainingRun.objects.filter(
        pk=run_id, status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.FAILED],
    ).update(status=TrainingRun.Status.RUNNING, worker=worker, device=device, started_at=timezone.now(), error="")
    return count == 1


def reclaim_stale(run_id: int, *, worker: str, device: str) -> bool:
    """A redelivered task whose first worker died leaves the run RUNNING; the command line may take it over."""
    count = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).update(
        worker=worker, device=device, started_at=timezone.now())
    return count == 1


def succeed(run_id: int, *, metrics: dict, run_dir: Path) -> None:
    TrainingRun.objects.filter(pk=run_id).update(
        status=TrainingRun.Status.SUCCEEDED, metrics=metrics, run_dir=str(run_dir), finished_at=timezone.now())


def fail(run_id: int, error: str) -> None:
    TrainingRun.objects.filter(pk=run_id).update(
        status=TrainingRun.Status.FAILED, error=error[:5000], finished_at=timezone.now())


@transaction.atomic
def register_files(*, archetype: str, model_type: str, version: int, files: dict[str, Path], metrics: dict,
                   fusion_weight: float = 1.0) -> list[ModelVersion]:
    """Register exported ONNX files (precision -> path) as candidates. A precision of this version that is not
    among them (a re-export failed its parity check and overwrote the file) is no longer served."""
    check_names(archetype, model_type)
    rows = [registry.register(archetype=archetype, model_type=model_type, version=version, precision=precision,
                              path=path, metrics=metrics.get(precision, metrics), fusion_weight=fusion_weight)
            for precision, path in files.items()]
    stale = set(ModelVersion.objects.filter(archetype=archetype, model_type=model_type, version=version)
                .exclude(precision__in=list(files)).values_list("precision", flat=True))
    if stale:
        unregister(archetype=archetype, model_type=model_type, version=version, precisions=stale)
    return rows


def unregister(*, archetype: str, model_type: str, version: int, precisions: set[str]) -> int:
    """Forget files of a version whose new export failed its parity check (a re-export overwrote them)."""
    count, _ = ModelVersion.objects.filter(archetype=archetype, model_type=model_type, version=version,
                                           precision__in=precisions).delete()
    if count:
        registry.bump_generation()
    return count


def active_version(archetype: str, model_type: str = "fused") -> int | None:
    row = ModelVersion.objects.filter(archetype=archetype, model_type=model_type,
                                      status=ModelVersion.Status.ACTIVE).order_by("-version").first()
    return row.version if row else None


def record_evaluation(*, archetype: str, model_type: str, version: int, precision: str, report: dict,
                      training_steps: int = 0, promoted: bool = False) -> Evaluation:
    return Evaluation.objects.create(
        archetype=archetype, model_type=model_type, version=version, precision=precision,
        scenarios=report.get("scenarios", []), encounters=report["encounters"], wins=report["wins"],
        win_rate=report["win_rate"], wilson_low=report["wilson_low"], wilson_high=report["wilson_high"],
        training_steps=training_steps, report=report, promoted=promoted,
    )


def promote(archetype: str, version: int, *, model_type: str = "fused") -> int:
    """Make a version the served one for its archetype. Returns the number of files activated."""
    count = registry.activate(archetype, model_type, version)
    Evaluation.objects.filter(archetype=archetype, model_type=model_type, version=version).update(promoted=True)
    log.info("%s/%s:%d is now active (%d files)", archetype, model_type, version, count)
    return count


def served_file(archetype: str, version: int, precision: str, model_type: str = "fused") -> ModelVersion:
    return ModelVersion.objects.get(archetype=archetype, model_type=model_type, version=version, precision=precision)


def served_path(archetype: str, version: int, precision: str, model_type: str = "fused") -> Path:
    return registry.resolve_path(served_file(archetype, version, precision, model_type).path)


def distilled_version(archetype: str, teacher_version: int) -> int | None:
    """The version an earlier distillation of `teacher_version` produced (or is producing), if any: a repeated
    request for the same copy continues or returns it instead of starting another."""
    run = (TrainingRun.objects.filter(archetype=archetype, model_type="fused", algorithm="distill",
                                      args__teacher_version=teacher_version).order_by("-version").first())
    return run.version if run else None


def taken_by_another(archetype: str, version: int, algorithm: str) -> bool:
    """Whether the version holds runs or files of something other than one `algorithm` run of its fused network
    (a distilled version is its fused network alone; it must not share a number with trained members)."""
    runs = TrainingRun.objects.filter(archetype=archetype, version=version)
    if runs.exclude(model_type="fused", algorithm=algorithm).exists():
        return True
    return not runs.exists() and ModelVersion.objects.filter(archetype=archetype, version=version).exists()


def current_version(archetype: str) -> int:
    """The version a plain `train` continues: the newest one with a member not yet trained, else a new one."""
    check_names(archetype)
    members = TrainingRun.objects.filter(archetype=archetype, model_type__in=MEMBER_TYPES)  # not distilled ones
    newest = members.aggregate(v=Max("version"))["v"]
    if newest is not None:
        done = members.filter(version=newest, status=TrainingRun.Status.SUCCEEDED).count()
        if done < len(MEMBER_TYPES):
            return newest
    return next_version(archetype)


def latest_trained_version(archetype: str) -> int | None:
    """The newest version whose nine members all trained (what export and evaluate default to)."""
    check_names(archetype)
    members = TrainingRun.objects.filter(archetype=archetype, model_type__in=MEMBER_TYPES)
    for version in members.order_by("-version").values_list("version", flat=True).distinct():
        if members.filter(version=version, status=TrainingRun.Status.SUCCEEDED).count() >= len(MEMBER_TYPES):
            return version
    return None


def win_rate_history() -> dict[str, list[tuple[int, float, float, float]]]:
    """Per archetype: (model version, win rate, Wilson low, Wilson high) of each version's latest fused
    evaluation, in version order. Versions, not training steps: a version can change how members learn
    (version 3's teacher) without training longer, and its steps may even be fewer."""
    latest: dict[tuple[str, int], Evaluation] = {}
    for row in Evaluation.objects.filter(model_type="fused").order_by("created_at", "pk"):
        latest[(row.archetype, row.version)] = row
    history: dict[str, list[tuple[int, float, float, float]]] = {}
    for (archetype, version), row in sorted(latest.items()):
        history.setdefault(archetype, []).append((version, row.win_rate, row.wilson_low, row.wilson_high))
    return history


def queue_archetype(archetype: str, *, scale: float = 1.0) -> str:
    """Send one archetype's whole training (a new version) to the train queue, after the transaction commits."""
    from aiworld.tasks.train import train_archetype

    version = next_version(archetype)
    payload = {"archetype": archetype, "version": version, "scale": scale}
    transaction.on_commit(lambda: train_archetype.delay(payload))
    return f"{archetype} v{version}"


def queue_distill(archetype: str, teacher_version: int, *, scale: float = 1.0) -> str:
    """Send a distillation of `teacher_version` (a new version) to the train queue, after the transaction commits.
    Queued when a trained version is promoted, so the farm keeps serving a cheap copy (docs/learning.md)."""
    from aiworld.tasks.train import distill

    payload = {"archetype": archetype, "teacher_version": teacher_version, "scale": scale}
    transaction.on_commit(lambda: distill.delay(payload))
    return f"{archetype} distilled from v{teacher_version}"


def trained_versions(archetype: str | None, version: int | None) -> list[tuple[str, int]]:
    """(archetype, version) pairs an export or evaluation command works on: the named archetype (or every
    one that has a fully trained version) at the named version (or its newest fully trained one)."""
    if archetype is not None:
        chosen = version or latest_trained_version(archetype)
        if chosen is None:
            raise ValueError(f"{archetype} has no fully trained version: run `manage.py train --all`")
        return [(archetype, chosen)]
    pairs = [(a, version or latest_trained_version(a)) for a in ARCHETYPES]
    return [(a, v) for a, v in pairs if v is not None]
