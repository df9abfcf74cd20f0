"""The whole learning pipeline for one archetype on a tiny budget: nine members, fusion weights, export
with parity checks, registry rows, held-out evaluation and promotion; then a rerun skips finished work."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from aiworld.models import Evaluation, ModelVersion, TrainingRun
from aiworld.services import training
from trainers import jobs, pipeline
from trainers.pipeline import MEMBER_TYPES, Budget, PipelineArgs

# The suite's slowest test (about 3 min; about 4 with 40 ticks, 2 continuations and 8 tuning and ablation
# encounters): the smallest budget that still exercises every stage
TINY = Budget(dqn_steps=600, ppo_steps=1024, sac_steps=300, num_envs=8, rollout_ticks=24, rollout_arenas=4,
              lookahead_batches=2, lookahead_arenas=8, lookahead_continuations=1, supervised_epochs=1,
              tune_encounters=4, eval_encounters=16, ablation_encounters=4)


@pytest.mark.django_db
def test_pipeline_end_to_end_on_a_tiny_budget(tmp_path: Path, settings, monkeypatch) -> None:
    torch.set_num_threads(1)
    monkeypatch.setattr(pipeline, "PROCEDURAL_BALANCE", 8)  # the generated tunnels map's tuning, kept short
    settings.AIWORLD_MODELS_DIR = str(tmp_path)
    args = PipelineArgs(archetype="tank", version=training.current_version("tank"), out_root=tmp_path, budget=TINY,
                        progress=False, only_scenarios=("crossroads", "cave"), procedural=2,
                        procedural_kinds=("open", "tunnels"), blind_teacher=True)
    summary = jobs.run_archetype(args)

    runs = TrainingRun.objects.filter(archetype="tank", version=args.version)
    assert set(runs.values_list("model_type", "status")) == {(t, "succeeded") for t in MEMBER_TYPES}
    assert {r.algorithm for r in runs} == {"dqn", "ppo", "sac", "supervised"}
    assert all(r.metrics.get("train_seconds") is not None for r in runs)

    files = ModelVersion.objects.filter(archetype="tank", version=args.version)
    # every member and the fusion in every precision whose parity check passed (FP32 always does)
    assert set(files.filter(precision="fp32").values_list("model_type", flat=True)) == {*MEMBER_TYPES, "fused"}
    assert all(row.metrics["argmax_agreement"] >= 0.98 for row in files)
    failed = {(t, p) for t, r in summary["export"].items() for p, e in r.items() if e["argmax_agreement"] < 0.98}
    assert files.count() == 3 * (len(MEMBER_TYPES) + 1) - len(failed)
    for row in files.filter(model_type="fused"):
        session = ort.InferenceSession(str(tmp_path / row.path), providers=["CPUExecutionProvider"])
        assert [tuple(i.shape)[1:] for i in session.get_inputs()] == [(10, 64)]

    evaluation = Evaluation.objects.get(archetype="tank", version=args.version)
    assert evaluation.encounters == summary["evaluation"]["encounters"] >= 1
    assert 0 <= evaluation.wilson_low <= evaluation.win_rate <= evaluation.wilson_high <= 1
    assert evaluation.promoted  # nothing was active: the first version becomes active
    assert set(files.filter(model_type="fused").values_list("status", flat=True)) == {"active"}
    # the RL members trained on crossroads and two generated scenarios, one of each kind asked (cave is held out)
    generated = args.out_dir / "scenarios" / f"seed-{args.seed}"
    assert sorted(p.name for p in generated.iterdir()) == \
        ["generated.json", "procedural_tank_000.yaml", "procedural_tank_001_tunnels.yaml"]
    assert "party level tuned" in (generated / "procedural_tank_001_tunnels.yaml").read_text()
    teacher = json.loads((args.out_dir / "lookahead.json").read_text())
    assert teacher["decisions"] > 0
    assert teacher["settings"]["redraw_patterns"] and teacher["settings"]["fresh_dice"]  # the blind teacher asked for
    assert sum(teacher["best_action_share"].values()) == pytest.approx(1.0, abs=6e-4)  # 11 shares, 4 places each
    # the teacher played the generated maps too
    assert teacher["scenarios"] == ["crossroads", "procedural_tank_000", "procedural_tank_001_tunnels"]
    assert runs.first().args["procedural_kinds"] == ["open", "tunnels"]
    for member in ("threat_assessment", "team_coordination", "spatial_vit", "temporal_transformer",
                   "pattern_recognition"):  # 11 outputs: the 11th hands the monster to the map server's AI
        assert runs.get(model_type=member).metrics["outputs"] == 11
        onnx = ort.InferenceSession(str(args.out_dir / f"{member}.fp32.onnx"), providers=["CPUExecutionProvider"])
        assert onnx.get_outputs()[0].shape[1] == 11
    for dqn in ("combat_dqn", "skill_dqn"):  # the serving temperature was fitted and saved with the weights
        fitted = runs.get(model_type=dqn).metrics["temperature"]
        saved = torch.load(args.out_dir / f"{dqn}.pt", weights_only=True)["temperature"]
        assert fitted != 1.0 and float(saved) == pytest.approx(fitted)
    weights = json.loads((args.out_dir / "fusion.json").read_text())["weights"]
    assert set(weights) == set(MEMBER_TYPES) and any(w > 0 for w in weights.values())

    kept = {t for t, w in weights.items() if w > 0}
    expected = {f"-{t}" for t in kept if len(kept) > 1} | {f"+{t}" for t in MEMBER_TYPES if t not in kept}
    assert set(summary["ablation"]) == {"full"} | expected
    mtimes = {t: (args.out_dir / f"{t}.pt").stat().st_mtime_ns for t in MEMBER_TYPES}
    jobs.run_archetype(args, tune=False, evaluate_after=False)  # a redelivered job: nothing retrains
    assert {t: (args.out_dir / f"{t}.pt").stat().st_mtime_ns for t in MEMBER_TYPES} == mtimes

    # DAgger: the next version's teacher labels what this version's fusion meets; the data aggregates
    following = replace(args, version=args.version + 1, dagger_from=args.version)
    earlier, data = pipeline.dataset(args), pipeline.dataset(following)
    assert len(earlier.actions) < len(data.actions)
    assert np.array_equal(data.values[:len(earlier.actions)], earlier.values)
    record = json.loads((following.out_dir / "lookahead.json").read_text())
    assert record["dagger_from"] == args.version and record["settings"]["continuations"] == 1  # TINY's
    assert record["settings"]["arenas"] == 8
    assert record["new_decisions"] == len(data.actions) - len(earlier.actions)
    with pytest.raises(ValueError, match="blind_teacher must match"):  # two teachers' labels never mix
        pipeline.dataset(replace(following, version=args.version + 2, blind_teacher=False))
    with pytest.raises(ValueError, match="blind_teacher must match"):  # refused already when the job is asked for
        jobs.pipeline_args("tank", args.version + 2, dagger_from=args.version, out_root=tmp_path)
    # the RL members do not learn from the teacher: carried over unchanged
    carried = jobs.train_member(following, "combat_dqn")
    assert carried["carried_from"] == args.version
    assert torch.equal(torch.load(following.out_dir / "combat_dqn.pt", weights_only=True)["temperature"],
                       torch.load(args.out_dir / "combat_dqn.pt", weights_only=True)["temperature"])
    with pytest.raises(ValueError, match="earlier version"):
        jobs.pipeline_args("tank", 2, dagger_from=2, out_root=tmp_path)
    # v1 here was labelled by the blind teacher, so its DAgger child asks for the same one
    stronger = jobs.pipeline_args("tank", 2, dagger_from=1, continuations=3, blind_teacher=True, out_root=tmp_path)
    assert stronger.budget.lookahead_continuations == 3
    assert not jobs.pipeline_args("tank", 2, out_root=tmp_path).blind_teacher
    assert jobs.pipeline_args("tank", 2, blind_teacher=True, out_root=tmp_path).blind_teacher
    with pytest.raises(ValueError, match="continuations"):
        jobs.pipeline_args("tank", 2, continuations=0, out_root=tmp_path)
