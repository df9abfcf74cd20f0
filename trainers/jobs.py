"""Training jobs with their registry rows: what the `train` tasks and the train/export/evaluate commands run.

Each member's training is a TrainingRun (claimed with a conditional UPDATE, so a duplicate job never
trains the same member twice at once); exports become ModelVersion rows; evaluations Evaluation rows.
"""

from __future__ import annotations

import json
import logging
import socket
import traceback
from dataclasses import replace
from pathlib import Path

from django.conf import settings

from aiworld.services import training
from trainers import pipeline
from trainers.pipeline import MEMBER_TYPES, Budget, PipelineArgs

log = logging.getLogger("aiworld.train")
MAX_CONTINUATIONS = 8  # each play costs 11 copies x 60 ticks per decision: 8 is already hours at scale 1
MAX_PROCEDURAL = 256
# A distilled student replaces its (active) teacher when its held-out win rate is at most this far below the
# teacher's on the same encounters: the reason to distil is the inference it saves, and 1,000 encounters
# measure a win rate to about +-3 points. Its teacher is never itself distilled, so the margin cannot add up.
DISTILL_MARGIN = 0.01


def pipeline_args(archetype: str, version: int | None, *, scale: float = 1.0, seed: int = 1,
                  device: str | None = None, progress: bool = True, out_root: Path | None = None,
                  dagger_from: int | None = None, continuations: int | None = None,
                  procedural: int = 0, procedural_kinds: tuple[str, ...] | list[str] = ("open",),
                  blind_teacher: bool = False) -> PipelineArgs:
    """continuations: plays per candidate the lookahead teacher averages (None: Budget's default);
    procedural: generated train scenarios added to the training mix (PipelineArgs.procedural), of the map
    kinds procedural_kinds (taken in turn);
    blind_teacher: a teacher that does not know the party's patterns (PipelineArgs.blind_teacher)."""
    training.check_names(archetype)
    version = version or training.next_version(archetype)
    if dagger_from is not None and not 0 < dagger_from < version:
        raise ValueError(f"dagger_from must be an earlier version than {version}, got {dagger_from}")
    budget = Budget().scaled(scale)
    if continuations is not None:
        if not 1 <= continuations <= MAX_CONTINUATIONS:
            raise ValueError(f"continuations must be 1 to {MAX_CONTINUATIONS}, got {continuations}")
        budget = replace(budget, lookahead_continuations=continuations)
    if not 0 <= procedural <= MAX_PROCEDURAL:
        raise ValueError(f"procedural must be 0 to {MAX_PROCEDURAL}, got {procedural}")
    procedural_kinds = procedural_map_kinds(procedural_kinds)
    args = PipelineArgs(archetype=archetype, version=version,
                        out_root=Path(out_root or settings.AIWORLD_MODELS_DIR), budget=budget,
                        seed=seed, device=device, progress=progress, dagger_from=dagger_from,
                        procedural=procedural, procedural_kinds=procedural_kinds, blind_teacher=blind_teacher)
    if dagger_from is not None:  # refused before any work, with the caller's error (CommandError, invalid_payload)
        pipeline.check_same_teacher(args)
    return args


def procedural_map_kinds(kinds: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The generated maps' kinds, checked (ValueError: unknown, none, or not a list of names)."""
    from trainers.arena import procedural

    if not isinstance(kinds, list | tuple) or not all(isinstance(k, str) for k in kinds):
        raise ValueError(f"procedural_kinds must be a list of map kinds ({', '.join(procedural.KINDS)})")
    return procedural.check_kinds(kinds)


def _device(args: PipelineArgs) -> str:
    import torch

    return args.device or ("cuda" if torch.cuda.is_available() else "cpu")


def train_member(args: PipelineArgs, model_type: str, *, worker: str = "", force: bool = False) -> dict:
    """Train one member under a TrainingRun row. Returns its metrics; raises if another worker holds it."""
    run = training.create_run(archetype=args.archetype, model_type=model_type, version=args.version,
                              algorithm=pipeline.ALGORITHM[model_type],
                              args={"budget": pipeline.asdict(args.budget), "seed": args.seed,
                                    "dagger_from": args.dagger_from, "procedural": args.procedural,
                                    "procedural_kinds": list(args.procedural_kinds),
                                    "blind_teacher": args.blind_teacher})
    if run.status == run.Status.SUCCEEDED and not force and pipeline.weights_path(args, model_type).exists():
        return run.metrics
    worker = worker or socket.gethostname()
    # a run still marked running by this very worker name was left by a process of ours that died (a train
    # worker runs one task at a time): take it over; another name's run is left alone unless forced
    if not (training.claim(run.pk, worker=worker, device=_device(args))
            or ((force or run.worker == worker) and training.reclaim_stale(run.pk, worker=worker,
                                                                            device=_device(args)))):
        raise RuntimeError(f"{run} is being trained by {run.worker or 'another worker'}")
    try:
        metrics = pipeline.train_member(args, model_type, force=force)
    except Exception as exc:
        training.fail(run.pk, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        raise
    training.succeed(run.pk, metrics=metrics, run_dir=args.out_dir / "runs" / model_type)
    return metrics


def export(args: PipelineArgs, weights: dict[str, float] | None = None) -> dict[str, dict]:
    """Export every member and the fused network, register them as candidates. Returns the parity reports."""
    weights = weights or _saved_weights(args)
    reports = pipeline.export_all(args, weights)
    for model_type, report in reports.items():
        ok = pipeline.passed(report)
        files = {p: _relative(Path(entry["path"]), args.out_root) for p, entry in ok.items()}
        extra = {"train": pipeline.member_metrics(args, model_type)} if model_type != "fused" else {"weights": weights}
        metrics = {p: {**entry, **extra} for p, entry in ok.items()}
        training.register_files(archetype=args.archetype, model_type=model_type, version=args.version, files=files,
                                metrics=metrics, fusion_weight=weights.get(model_type, 1.0))
    return reports


def _relative(path: Path, root: Path) -> Path:
    """Registry paths are relative to the models directory when they lie under it (installs move)."""
    return path.relative_to(root) if path.is_relative_to(root) else path


def _saved_weights(args: PipelineArgs) -> dict[str, float]:
    path = args.out_dir / "fusion.json"
    return json.loads(path.read_text())["weights"] if path.exists() else {t: 1.0 for t in MEMBER_TYPES}


def served_precision(args: PipelineArgs, version: int | None = None) -> str:
    """INT8 (what a CPU worker serves) unless its parity check failed; then FP32, the CPU fallback. For
    args.version, or for another version of the archetype (the active one: each side plays as served)."""
    from aiworld.models import ModelVersion

    version = args.version if version is None else version
    registered = set(ModelVersion.objects.filter(archetype=args.archetype, model_type="fused", version=version)
                     .values_list("precision", flat=True))
    return "int8" if "int8" in registered or not registered else "fp32"


def evaluate(args: PipelineArgs, *, encounters: int | None = None, precision: str | None = None,
             promote: bool = True) -> dict:
    """The served (ONNX) fused network against traditional AI on the held-out scenarios; promote if better."""
    from trainers.evaluate import compare, onnx_policy, should_promote
    from trainers.evaluate import evaluate as play

    encounters = encounters or args.budget.eval_encounters
    precision = precision or served_precision(args)
    scenarios = args.scenarios("heldout")
    path = args.out_dir / f"fused.{precision}.onnx"
    candidate = onnx_policy(path)
    report = play(candidate, args.archetype, scenarios, encounters=encounters, seed=args.seed + pipeline.HELDOUT_SEED,
                  progress=args.progress).to_dict()
    steps = sum(int(pipeline.member_metrics(args, t).get("steps", 0)) for t in MEMBER_TYPES)
    active = training.active_version(args.archetype)
    promoted = False
    if promote:
        if active is None:
            promoted = True
        elif active != args.version:
            active_path = training.served_path(args.archetype, active, served_precision(args, active))
            head_to_head = compare(candidate, onnx_policy(active_path), args.archetype, scenarios,
                                   encounters=encounters, seed=args.seed + pipeline.HEAD_TO_HEAD_SEED,
                                   progress=args.progress)
            report["versus_active"] = {"version": active, **head_to_head}
            promoted = should_promote(head_to_head)
    training.record_evaluation(archetype=args.archetype, model_type="fused", version=args.version,
                               precision=precision, report=report, training_steps=steps)
    if promoted:
        training.promote(args.archetype, args.version)
    report["promoted"], report["precision"] = promoted, precision
    return report


def run_archetype(args: PipelineArgs, *, worker: str = "", members: tuple[str, ...] = MEMBER_TYPES,
                  tune: bool = True, evaluate_after: bool = True) -> dict:
    """Everything for one archetype: members, fusion weights, export, evaluation, promotion."""
    summary: dict = {"archetype": args.archetype, "version": args.version, "members": {}}
    for model_type in members:
        summary["members"][model_type] = train_member(args, model_type, worker=worker)
    if set(members) != set(MEMBER_TYPES):
        return summary
    weights, tried = pipeline.tune_weights(args) if tune else ({t: 1.0 for t in MEMBER_TYPES}, {})
    (args.out_dir / "fusion.json").write_text(json.dumps({"weights": weights, "validation": tried}, indent=1))
    summary["fusion"] = {"weights": weights, "validation": tried}
    summary["export"] = {t: {p: {k: v for k, v in e.items() if k != "path"} for p, e in r["precisions"].items()}
                         for t, r in export(args, weights).items()}
    if evaluate_after:
        summary["evaluation"] = evaluate(args)
        table = pipeline.ablation(args, weights, args.budget.ablation_encounters)
        (args.out_dir / "ablation.json").write_text(json.dumps(table, indent=1))
        summary["ablation"] = table
    (args.out_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    return summary


def distill(archetype: str, version: int | None = None, *, teacher_version: int | None = None, scale: float = 1.0,
            seed: int = 1, encounters: int | None = None, promote: bool = True, margin: float = DISTILL_MARGIN,
            progress: bool = True, out_root: Path | None = None, worker: str = "",
            distill_args: dict | None = None) -> dict:
    """A distilled copy of a fused version (trainers/distill.py) as version `version` (default: the one an earlier
    distillation of the same teacher made, else a new one): trained under a TrainingRun
    (model type fused, algorithm distill), exported and registered, then played on the held-out scenarios
    together with its teacher on the same encounters. It becomes active if its teacher is the active version
    and its win rate is at most `margin` below the teacher's. distill_args: DistillArgs fields to override."""
    from aiworld.services import registry
    from trainers import distill as distillation
    from trainers.export import ExportParityError, export_onnx

    teacher_version = teacher_version or training.active_version(archetype)
    if teacher_version is None:
        raise ValueError(f"{archetype} has no active fused network to distil: name a teacher version")
    # a repeated request (a redelivered train_archetype queues it again) continues the same copy
    version = version or training.distilled_version(archetype, teacher_version)
    args = pipeline_args(archetype, version, scale=scale, seed=seed, progress=progress, out_root=out_root)
    if training.taken_by_another(archetype, args.version, "distill"):
        raise ValueError(f"{archetype} v{args.version} holds other models: give a new --model-version")
    teacher_precision = served_precision(args, teacher_version)
    teacher_row = training.served_file(archetype, teacher_version, teacher_precision)
    if teacher_row.metrics.get("distilled_from") is not None:
        raise ValueError(f"{archetype} v{teacher_version} is itself distilled (from "
                         f"v{teacher_row.metrics['distilled_from']}): distil from that version")
    overrides = {"batches": max(1, round(10 * scale)), **(distill_args or {})}
    dargs = distillation.DistillArgs(archetype=archetype, teacher=registry.resolve_path(teacher_row.path),
                                     out_dir=args.out_dir, seed=seed, progress=progress,
                                     scenarios=tuple(args.scenarios("train")), **overrides)
    run = training.create_run(archetype=archetype, model_type="fused", version=args.version, algorithm="distill",
                              args={"teacher_version": teacher_version, "teacher_precision": teacher_precision,
                                    "seed": seed, "scale": scale, **overrides})
    summary_path = args.out_dir / "summary.json"
    done = run.status == run.Status.SUCCEEDED
    if done and summary_path.exists():  # a duplicate job: the work and its evaluation are recorded
        return json.loads(summary_path.read_text())["evaluation"]
    worker = worker or socket.gethostname()
    if not done and not (training.claim(run.pk, worker=worker, device="cpu")
                         or (run.worker == worker and training.reclaim_stale(run.pk, worker=worker, device="cpu"))):
        raise RuntimeError(f"{run} is being trained by {run.worker or 'another worker'}")
    try:
        student, metrics = distillation.train(dargs)
        try:
            report = export_onnx(student, args.out_dir, "fused", distillation.sample_histories(dargs)).to_dict()
        except ExportParityError as exc:  # keep the precisions that passed; the others are not served
            log.warning("%s distilled v%d: %s", archetype, args.version, exc)
            report = exc.report.to_dict()
    except Exception as exc:
        training.fail(run.pk, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        raise
    metrics = {**metrics, "distilled_from": teacher_version}
    if not done:
        training.succeed(run.pk, metrics=pipeline.json_safe(metrics), run_dir=dargs.folder)
    ok = pipeline.passed(report)
    training.register_files(archetype=archetype, model_type="fused", version=args.version,
                            files={p: _relative(Path(e["path"]), args.out_root) for p, e in ok.items()},
                            metrics={p: {**{k: v for k, v in e.items() if k != "path"},
                                         "distilled_from": teacher_version, "parameters": metrics["parameters"],
                                         "holdout_agreement": metrics["holdout_agreement"]} for p, e in ok.items()})

    result = judge_distilled(args, dargs.teacher, teacher_version, teacher_precision, encounters=encounters,
                             promote=promote, margin=margin)
    result["export"] = {p: {k: v for k, v in e.items() if k != "path"} for p, e in report["precisions"].items()}
    summary_path.write_text(json.dumps(
        {"archetype": archetype, "version": args.version, "distill": metrics, "evaluation": result}, indent=1,
        default=float))
    return result


def judge_distilled(args: PipelineArgs, teacher_path: Path, teacher_version: int, teacher_precision: str, *,
                    encounters: int | None, promote: bool, margin: float) -> dict:
    """The distilled version args.version (served precision) and its teacher play the same held-out encounters
    against traditional AI; recorded as the version's Evaluation (with the teacher's result), promoted when its
    teacher is active and it is at most `margin` below it."""
    from trainers.evaluate import evaluate as play
    from trainers.evaluate import onnx_policy

    precision = served_precision(args)
    scenarios = args.scenarios("heldout")
    held_out = {"encounters": encounters or args.budget.eval_encounters, "seed": args.seed + pipeline.HELDOUT_SEED,
                "progress": args.progress}
    result = play(onnx_policy(args.out_dir / f"fused.{precision}.onnx"), args.archetype, scenarios,
                  **held_out).to_dict()
    teacher = play(onnx_policy(teacher_path), args.archetype, scenarios, **held_out).to_dict()
    result["teacher"] = {"version": teacher_version, "precision": teacher_precision,
                         **{k: teacher[k] for k in ("encounters", "wins", "win_rate", "wilson_low", "wilson_high")}}
    result["distilled_from"] = teacher_version
    promoted = (promote and training.active_version(args.archetype) == teacher_version
                and result["win_rate"] >= teacher["win_rate"] - margin)
    training.record_evaluation(archetype=args.archetype, model_type="fused", version=args.version,
                               precision=precision, report=result)
    if promoted:
        training.promote(args.archetype, args.version)
    result["promoted"], result["precision"], result["version"] = promoted, precision, args.version
    return result
