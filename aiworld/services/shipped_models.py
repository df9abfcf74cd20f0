"""The trained models committed with aiworld (models/shipped/<archetype>/): registered on install so a
fresh farm makes ML decisions at once. `manage.py train --all` reproduces them (docs/learning.md)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction

from aiworld.env import PROJECT_ROOT
from aiworld.mobs.onnx_export import sha256_of
from aiworld.mobs.state import ARCHETYPES
from aiworld.models import Evaluation, ModelVersion
from aiworld.services import registry

log = logging.getLogger("aiworld.registry")
SHIPPED_DIR = PROJECT_ROOT / "models" / "shipped"
TEACHER_DIR = "teacher"  # a distilled version's teacher ships beside it, in this subfolder


def manifest(archetype: str, root: Path = SHIPPED_DIR) -> dict | None:
    path = root / archetype / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def _registry_path(path: Path) -> str:
    models_dir = Path(settings.AIWORLD_MODELS_DIR).resolve()
    path = path.resolve()
    return str(path.relative_to(models_dir)) if path.is_relative_to(models_dir) else str(path)


def _forget_replaced(archetype: str, root: Path) -> bool:
    """Forget the registered files in the archetype's shipped folder whose bytes a newer release replaced or
    removed (they can never be served again: the engine checks every file's sha256). True if the active
    fused network was among them: the release's version then takes its place."""
    folder = (root / archetype).resolve()
    stale = []
    for row in ModelVersion.objects.filter(archetype=archetype):
        path = registry.resolve_path(row.path).resolve()
        if path.is_relative_to(folder) and (not path.exists() or sha256_of(path) != row.sha256):
            stale.append(row)
    if not stale:
        return False
    was_active = any(r.model_type == "fused" and r.status == ModelVersion.Status.ACTIVE for r in stale)
    ModelVersion.objects.filter(pk__in=[r.pk for r in stale]).delete()
    registry.bump_generation()
    log.warning("%s: %d registered file(s) of an earlier shipped version were replaced by this release and are "
                "forgotten", archetype, len(stale))
    return was_active


def _register(archetype: str, version: int, files: dict, folder: Path) -> int:
    """Register a manifest's files of one version that are not registered yet. Returns how many were."""
    added = 0
    for model_type, precisions in files.items():
        for precision, entry in precisions.items():
            path = folder / entry["file"]
            if sha256_of(path) != entry["sha256"]:
                raise ValueError(f"{path} does not match its manifest (sha256): the shipped models are damaged")
            if ModelVersion.objects.filter(archetype=archetype, model_type=model_type, version=version,
                                           precision=precision).exists():
                continue
            registry.register(archetype=archetype, model_type=model_type, version=version, precision=precision,
                              path=Path(_registry_path(path)), metrics=entry.get("metrics", {}),
                              fusion_weight=float(entry.get("fusion_weight", 1.0)))
            added += 1
    return added


@transaction.atomic
def install(root: Path = SHIPPED_DIR) -> dict[str, str]:
    """Register every shipped file that is not registered yet and activate an archetype's shipped fused
    model when that archetype has no active one (a GM's choice is never overridden), or when the active one
    was an earlier shipped version whose files this release replaced. A distilled version ships with its
    teacher (manifest "teacher", files under teacher/), registered as a candidate. {archetype: what}."""
    done: dict[str, str] = {}
    for archetype in ARCHETYPES:
        shipped = manifest(archetype, root)
        if shipped is None:
            continue
        version = int(shipped["version"])
        replaced_active = _forget_replaced(archetype, root)
        added = _register(archetype, version, shipped["files"], root / archetype)
        teacher = shipped.get("teacher")
        if teacher:
            added += _register(archetype, int(teacher["version"]), teacher["files"], root / archetype / TEACHER_DIR)
        active = ModelVersion.objects.filter(archetype=archetype, status=ModelVersion.Status.ACTIVE).exists()
        if not active:
            registry.activate(archetype, "fused", version)
        done[archetype] = f"v{version}: {added} file(s) registered" + ("" if active else ", fused model activated") \
            + (" (the active one was an earlier shipped version)" if replaced_active else "")
    return done


def _copy_version(archetype: str, version: int, folder: Path,
                  precisions: dict[str, tuple[str, ...]] | None = None) -> dict[str, dict[str, dict]]:
    """Copy a registered version's files into `folder`: the fused network in every registered precision (or
    `precisions`), the members in INT8 (or FP32 where INT8 failed its parity check). Returns the manifest's files."""
    wanted = precisions or {"fused": ("fp32", "fp16", "int8")}
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, dict]] = {}
    by_type: dict[str, dict[str, ModelVersion]] = {}
    for row in ModelVersion.objects.filter(archetype=archetype, version=version):
        by_type.setdefault(row.model_type, {})[row.precision] = row
    if "fused" not in by_type:
        raise ValueError(f"{archetype} v{version} has no registered fused network: export it first")
    for model_type, available in sorted(by_type.items()):
        chosen = wanted.get(model_type) or (("int8",) if "int8" in available else ("fp32",))
        for precision in chosen:
            row = available.get(precision)
            if row is None:
                continue
            target = folder / f"{model_type}.{precision}.onnx"
            shutil.copyfile(registry.resolve_path(row.path), target)
            files.setdefault(model_type, {})[precision] = {
                "file": target.name, "sha256": sha256_of(target), "fusion_weight": row.fusion_weight,
                "metrics": {k: v for k, v in row.metrics.items()
                            if k in ("argmax_agreement", "max_abs_error", "distilled_from")}}
    return files


def _evaluation(archetype: str, version: int) -> dict | None:
    row = Evaluation.objects.filter(archetype=archetype, version=version).order_by("-created_at").first()
    if row is None:
        return None
    data = {k: getattr(row, k) for k in ("precision", "encounters", "wins", "win_rate", "wilson_low", "wilson_high")}
    if "teacher" in row.report:
        data["teacher"] = row.report["teacher"]
    return data


def package(archetype: str, version: int, *, root: Path = SHIPPED_DIR,
            precisions: dict[str, tuple[str, ...]] | None = None) -> Path:
    """Copy a registered version into the shipped folder with its manifest (what `load_shipped_models`
    installs): its files (_copy_version) and its latest evaluation; a distilled version also its teacher's
    files, under teacher/. Built beside the folder and swapped in: the registered files being copied may be
    the shipped ones themselves."""
    fused = ModelVersion.objects.filter(archetype=archetype, version=version, model_type="fused").first()
    if fused is None:
        raise ValueError(f"{archetype} v{version} has no registered fused network: export it first")
    folder = root / archetype
    staging = root / f".{archetype}.new"
    if staging.exists():
        shutil.rmtree(staging)
    manifest_data: dict = {"archetype": archetype, "version": version,
                           "files": _copy_version(archetype, version, staging, precisions),
                           "evaluation": _evaluation(archetype, version)}
    teacher = fused.metrics.get("distilled_from")
    if teacher is not None:
        # without an Evaluation row of its own (a teacher installed from a shipped folder), the teacher's result on
        # the distilled version's held-out encounters (jobs.judge_distilled: every evaluation's encounters)
        manifest_data["teacher"] = {"version": int(teacher),
                                    "files": _copy_version(archetype, int(teacher), staging / TEACHER_DIR),
                                    "evaluation": _evaluation(archetype, int(teacher))
                                    or (manifest_data["evaluation"] or {}).get("teacher")}
    (staging / "manifest.json").write_text(json.dumps(manifest_data, indent=1))
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    return folder
