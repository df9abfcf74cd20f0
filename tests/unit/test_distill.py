"""Distillation (trainers/distill.py) on a tiny budget: the student learns its teacher's choices, rounds resume from
their files, the student exports and serves like a fused network; the job registers it, plays it against its
teacher's win rate on the same held-out encounters and promotes it by the margin rule; bad requests are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from aiworld.errors import PayloadError
from aiworld.mobs.onnx_export import random_mlp, write_precisions
from aiworld.mobs.state import HISTORY_LENGTH, MODEL_ACTIONS, STATE_SIZE
from aiworld.models import Evaluation, ModelVersion, TrainingRun
from aiworld.services import training
from aiworld.tasks.train import distill as distill_task
from trainers import distill
from trainers.export import export_onnx
from trainers.networks import DistilledMLP

TINY = {"batches": 1, "arenas": 6, "epochs": 6, "hidden": 32, "progress": False}


def _teacher(folder: Path, seed: int = 3) -> Path:
    return write_precisions(random_mlp(seed=seed, temporal=True), folder, "fused")["fp32"]


def _rounds_data(args: distill.DistillArgs) -> distill.Data:
    """Every round's decisions, in order: what the last student trained on."""
    saved = [np.load(args.folder / f"data_{r}.npz") for r in range(args.rounds)]
    return distill.Data(np.concatenate([s["histories"] for s in saved]), np.concatenate([s["targets"] for s in saved]))


@pytest.mark.usefixtures("one_torch_thread")
def test_a_student_learns_its_teachers_choices_and_a_rerun_resumes(tmp_path: Path) -> None:
    # teacher seed 7 picks no action more than ~45% of the time here (others are near-constant: nothing to learn)
    args = distill.DistillArgs(archetype="tank", teacher=_teacher(tmp_path / "teacher", seed=7),
                               out_dir=tmp_path / "v2", scenarios=("crossroads",), rounds=2, holdout=0.2,
                               **{**TINY, "epochs": 12})
    student, summary = distill.train(args)

    first, second = summary["rounds"]
    assert first["new_decisions"] > 0 and second["new_decisions"] > 0  # the student's own games were labelled
    assert second["decisions"] == first["decisions"] + second["new_decisions"] == summary["decisions"]
    data = _rounds_data(args)
    assert data.targets.shape == (summary["decisions"], MODEL_ACTIONS)  # the teacher's width
    assert np.allclose(data.targets.mean(axis=1), 0, atol=1e-5)  # centred log-probabilities
    # learned: on decisions it never trained on it agrees with its teacher more than always naming the teacher's
    # most frequent choice would, and more than an untrained student
    held = np.random.default_rng(args.seed * 1000 + 1).permutation(len(data))[:second["holdout_decisions"]]
    majority = np.bincount(data.targets[held].argmax(axis=1)).max() / len(held)
    untrained = distill.agreement(DistilledMLP(hidden=32, outputs=MODEL_ACTIONS), data, held)
    assert summary["holdout_agreement"] == pytest.approx(distill.agreement(student, data, held))
    assert summary["holdout_agreement"] > max(majority, untrained) + 0.1, (summary["holdout_agreement"], majority,
                                                                           untrained)
    # a rerun (a redelivered job) resumes both rounds from their files: nothing is collected or trained again
    mtimes = {p.name: p.stat().st_mtime_ns for p in args.folder.iterdir() if p.suffix in (".npz", ".pt")}
    again, resumed = distill.train(args)
    assert {p.name: p.stat().st_mtime_ns for p in args.folder.iterdir() if p.suffix in (".npz", ".pt")} == mtimes
    assert resumed["rounds"] == summary["rounds"]
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(), again.state_dict().values(),
                                                 strict=True))

    # the student is served like a fused network: history in, the teacher's outputs out, every precision in parity
    report = export_onnx(student, tmp_path / "export", "fused", distill.sample_histories(args))
    assert report.ok and report.input_name == "history"
    session = ort.InferenceSession(str(report.precisions["int8"].path), providers=["CPUExecutionProvider"])
    history = np.random.default_rng(0).random((3, HISTORY_LENGTH, STATE_SIZE), dtype=np.float32)
    assert session.run(None, {session.get_inputs()[0].name: history})[0].shape == (3, MODEL_ACTIONS)


@pytest.mark.usefixtures("one_torch_thread")
def test_the_same_seed_collects_the_same_decisions(tmp_path: Path) -> None:
    teacher, outputs = distill.onnx_teacher(_teacher(tmp_path))
    assert outputs == MODEL_ACTIONS
    args = distill.DistillArgs(archetype="mage", teacher=tmp_path / "fused.fp32.onnx", out_dir=tmp_path,
                               scenarios=("swamp",), **{**TINY, "arenas": 3})
    runs = [distill.collect(args, teacher, outputs, np.random.default_rng([1, 0])) for _ in range(2)]
    assert len(runs[0]) > 0
    assert np.array_equal(runs[0].histories, runs[1].histories) and np.array_equal(runs[0].targets, runs[1].targets)


def test_bad_distillation_arguments_are_refused(tmp_path: Path) -> None:
    for bad in ({"archetype": "dragon"}, {"history": 11}, {"rounds": 0}, {"epsilon": 1.5}, {"holdout": 0}):
        with pytest.raises(ValueError):
            distill.DistillArgs(**{"archetype": "tank", "teacher": tmp_path, "out_dir": tmp_path,
                                   "scenarios": ("cave",), **bad})
    state_input = write_precisions(random_mlp(seed=1), tmp_path, "combat_dqn")["fp32"]
    with pytest.raises(ValueError, match="history input"):
        distill.onnx_teacher(state_input)


@pytest.mark.django_db
@pytest.mark.usefixtures("one_torch_thread")
def test_a_distilled_version_is_registered_judged_against_its_teacher_and_promoted_by_the_margin(
        tmp_path: Path, settings) -> None:
    from trainers import jobs

    settings.AIWORLD_MODELS_DIR = str(tmp_path)
    training.register_files(archetype="tank", model_type="fused", version=1, metrics={},
                            files=write_precisions(random_mlp(seed=3, temporal=True), tmp_path / "tank" / "v1",
                                                   "fused"))
    training.promote("tank", 1)
    small = {**{k: v for k, v in TINY.items() if k != "progress"}, "rounds": 1, "epochs": 2, "arenas": 4}
    kwargs = {"encounters": 8, "progress": False, "out_root": tmp_path, "distill_args": small}

    # margin -1: the student must beat its teacher by a whole win rate, which it cannot: registered, not promoted
    result = jobs.distill("tank", 2, margin=-1.0, **kwargs)
    assert not result["promoted"] and training.active_version("tank") == 1
    assert result["teacher"]["version"] == 1 and result["teacher"]["encounters"] == result["encounters"] == 8
    run = TrainingRun.objects.get(archetype="tank", version=2)
    assert (run.model_type, run.algorithm, run.status) == ("fused", "distill", "succeeded")
    assert run.metrics["distilled_from"] == 1
    rows = ModelVersion.objects.filter(archetype="tank", version=2, model_type="fused")
    assert rows.filter(precision="fp32").exists() and all(r.metrics["distilled_from"] == 1 for r in rows)
    evaluation = Evaluation.objects.get(archetype="tank", version=2)
    assert evaluation.report["teacher"]["win_rate"] == result["teacher"]["win_rate"] and not evaluation.promoted
    # a duplicate job returns what was recorded, with or without the version named
    assert jobs.distill("tank", 2, margin=-1.0, **kwargs)["win_rate"] == result["win_rate"]
    assert jobs.distill("tank", margin=-1.0, **kwargs)["version"] == 2
    assert Evaluation.objects.filter(archetype="tank", version=2).count() == 1

    # margin 1: any student of the active teacher replaces it
    promoted = jobs.distill("tank", 3, margin=1.0, **kwargs)
    assert promoted["promoted"] and training.active_version("tank") == 3
    # a plain `train` starts a new version; it does not continue into the distilled ones
    assert training.current_version("tank") == 4 and training.latest_trained_version("tank") is None

    with pytest.raises(ValueError, match="itself distilled"):  # copies of copies could drift by a margin each time
        jobs.distill("tank", 4, **kwargs)
    with pytest.raises(ValueError, match="holds other models"):  # the teacher's own number
        jobs.distill("tank", 1, teacher_version=3, **kwargs)
    with pytest.raises(ValueError, match="no active fused network"):
        jobs.distill("mage", **kwargs)


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [
    None, {"archetype": "dragon"}, {"archetype": "tank", "teacher_version": "1"},
    {"archetype": "tank"},  # nothing active to distil
])
def test_the_distill_task_rejects_bad_payloads(payload) -> None:
    with pytest.raises(PayloadError):
        distill_task.apply(args=[payload]).get()


@pytest.mark.django_db
def test_a_distilled_version_ships_with_its_teacher_and_installs_both(tmp_path: Path, settings) -> None:
    import json

    from aiworld.services import shipped_models

    settings.AIWORLD_MODELS_DIR = str(tmp_path / "models")
    built = tmp_path / "models" / "tank"
    training.register_files(archetype="tank", model_type="fused", version=4, metrics={},
                            files=write_precisions(random_mlp(seed=3, temporal=True), built / "v4", "fused"))
    training.register_files(archetype="tank", model_type="combat_dqn", version=4, metrics={}, fusion_weight=0.0,
                            files=write_precisions(random_mlp(seed=4), built / "v4", "combat_dqn"))
    training.register_files(archetype="tank", model_type="fused", version=9, metrics={"distilled_from": 4},
                            files=write_precisions(random_mlp(seed=5, temporal=True), built / "v9", "fused"))
    training.record_evaluation(archetype="tank", model_type="fused", version=9, precision="int8",
                               report={"encounters": 10, "wins": 7, "win_rate": 0.7, "wilson_low": 0.4,
                                       "wilson_high": 0.9, "teacher": {"version": 4, "win_rate": 0.6}})
    training.promote("tank", 9)
    root = tmp_path / "shipped"

    folder = shipped_models.package("tank", 9, root=root)
    shipped = json.loads((folder / "manifest.json").read_text())
    assert shipped["version"] == 9 and set(shipped["files"]) == {"fused"}
    assert shipped["files"]["fused"]["int8"]["metrics"]["distilled_from"] == 4
    assert shipped["evaluation"]["teacher"] == {"version": 4, "win_rate": 0.6}
    assert shipped["teacher"]["version"] == 4 and set(shipped["teacher"]["files"]) == {"fused", "combat_dqn"}
    assert (folder / "teacher" / "combat_dqn.int8.onnx").exists()

    ModelVersion.objects.all().delete()  # a fresh install
    assert shipped_models.install(root)["tank"] == "v9: 7 file(s) registered, fused model activated"
    assert training.active_version("tank") == 9
    assert set(ModelVersion.objects.filter(version=4).values_list("status", flat=True)) == {"candidate"}
    # packaging again from the installed files (they lie in the folder being replaced) gives the same bytes
    before = (folder / "manifest.json").read_text()
    shipped_models.package("tank", 9, root=root)
    assert (folder / "manifest.json").read_text() == before
    assert shipped_models.install(root)["tank"] == "v9: 0 file(s) registered"


@pytest.mark.django_db
@pytest.mark.parametrize("promoted", [True, False])
def test_a_promoted_trained_version_is_queued_for_distillation(promoted, monkeypatch,
                                                                django_capture_on_commit_callbacks) -> None:
    from aiworld.tasks import train as train_tasks
    from trainers import jobs

    monkeypatch.setattr(jobs, "run_archetype", lambda args, worker="": {
        "version": args.version, "evaluation": {"promoted": promoted, "win_rate": 0.8}})
    queued: list[dict] = []
    monkeypatch.setattr(train_tasks.distill, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        result = train_tasks.train_archetype.apply(args=[{"archetype": "mage", "version": 7, "scale": 0.5}]).get()
    assert result["version"] == 7
    assert queued == ([{"archetype": "mage", "teacher_version": 7, "scale": 0.5}] if promoted else [])


@pytest.mark.django_db
def test_the_distill_command_explains_what_it_cannot_do() -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no active fused network"):
        call_command("distill", "--archetype", "mage", "--no-progress")
    with pytest.raises(CommandError, match="--scale"):
        call_command("distill", "--archetype", "mage", "--scale", "0")
