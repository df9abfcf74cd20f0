"""The training side of the registry: runs are claimed once, versions continue or advance, shipped models
install once without overriding a GM's choice, the train tasks reject bad payloads, nightly is scheduled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django_celery_beat.models import PeriodicTask

from aiworld.errors import PayloadError
from aiworld.mobs.onnx_export import random_mlp, sha256_of, write_precisions
from aiworld.models import ModelVersion, TrainingRun
from aiworld.services import registry, shipped_models, training
from aiworld.services.schedules import ensure_schedules
from aiworld.tasks.train import nightly, train_archetype, train_member


@pytest.mark.django_db
def test_a_run_is_claimed_once_and_a_duplicate_request_returns_it() -> None:
    run = training.create_run(archetype="tank", model_type="combat_dqn", version=1, algorithm="dqn", args={})
    again = training.create_run(archetype="tank", model_type="combat_dqn", version=1, algorithm="dqn", args={"x": 1})
    assert again.pk == run.pk and again.args == {}
    assert training.claim(run.pk, worker="a", device="cpu") is True
    assert training.claim(run.pk, worker="b", device="cpu") is False  # running elsewhere
    training.fail(run.pk, "boom")
    assert training.claim(run.pk, worker="b", device="cpu") is True  # a failed run may be retried
    training.succeed(run.pk, metrics={"steps": 10}, run_dir=Path("/tmp/r"))
    assert training.claim(run.pk, worker="c", device="cpu") is False  # finished
    row = TrainingRun.objects.get(pk=run.pk)
    assert (row.status, row.worker, row.metrics) == ("succeeded", "b", {"steps": 10})


@pytest.mark.django_db
def test_versions_continue_until_all_nine_members_succeed() -> None:
    assert training.current_version("mage") == 1
    for i, model_type in enumerate(training.MEMBER_TYPES):
        run = training.create_run(archetype="mage", model_type=model_type, version=1, algorithm="x", args={})
        training.claim(run.pk, worker="w", device="cpu")
        assert training.current_version("mage") == 1
        assert training.latest_trained_version("mage") is None
        training.succeed(run.pk, metrics={}, run_dir=Path("/tmp"))
        if i == len(training.MEMBER_TYPES) - 1:
            assert training.current_version("mage") == 2
    assert training.latest_trained_version("mage") == 1
    assert training.next_version("mage") == 2 and training.next_version("tank") == 1
    with pytest.raises(ValueError, match="unknown archetype"):
        training.next_version("dragon")


def _ship(root: Path, archetype: str, version: int) -> None:
    folder = root / archetype
    paths = write_precisions(random_mlp(seed=3, temporal=True), folder, "fused")
    files = {"fused": {p: {"file": path.name, "sha256": sha256_of(path)} for p, path in paths.items()}}
    (folder / "manifest.json").write_text(json.dumps({"version": version, "files": files}))


@pytest.mark.django_db
def test_shipped_models_install_once_and_keep_an_active_choice(tmp_path: Path, settings) -> None:
    settings.AIWORLD_MODELS_DIR = str(tmp_path)
    root = tmp_path / "shipped"
    _ship(root, "tank", 4)
    _ship(root, "mage", 2)
    registry.register(archetype="mage", model_type="combat_dqn", version=9, precision="fp32",
                      path=root / "mage" / "fused.fp32.onnx")
    registry.activate("mage", "combat_dqn", 9)  # a GM's active model for mage

    done = shipped_models.install(root)
    assert done == {"mage": "v2: 3 file(s) registered", "tank": "v4: 3 file(s) registered, fused model activated"}
    tank = ModelVersion.objects.filter(archetype="tank", model_type="fused", version=4)
    assert set(tank.values_list("status", flat=True)) == {"active"}
    assert tank.get(precision="int8").path == "shipped/tank/fused.int8.onnx"  # relative to the models dir
    assert set(ModelVersion.objects.filter(archetype="mage", model_type="fused").values_list("status", flat=True)) \
        == {"candidate"}
    assert shipped_models.install(root) == {"mage": "v2: 0 file(s) registered", "tank": "v4: 0 file(s) registered"}

    (root / "tank" / "fused.int8.onnx").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="does not match its manifest"):
        shipped_models.install(root)


@pytest.mark.django_db
@pytest.mark.parametrize(("payload", "code"), [
    ("tank", "invalid_payload"),
    ({"archetype": "dragon"}, "unknown_archetype"),
    ({"archetype": "tank", "version": 0}, "invalid_payload"),
    ({"archetype": "tank", "version": True}, "invalid_payload"),
    ({"archetype": "tank", "scale": -1}, "invalid_payload"),
    ({"archetype": "tank", "version": 3, "dagger_from": 3}, "invalid_payload"),
    ({"archetype": "tank", "dagger_from": "2"}, "invalid_payload"),
    ({"archetype": "tank", "dagger_from": 5}, "invalid_payload"),  # later than the version the archetype is at
    ({"archetype": "tank", "continuations": 0}, "invalid_payload"),
    ({"archetype": "tank", "continuations": 9}, "invalid_payload"),
    ({"archetype": "tank", "continuations": 2.5}, "invalid_payload"),
    ({"archetype": "tank", "procedural": -1}, "invalid_payload"),
    ({"archetype": "tank", "procedural": "4"}, "invalid_payload"),
    ({"archetype": "tank", "blind_teacher": "yes"}, "invalid_payload"),
    ({"archetype": "tank", "procedural_kinds": "tunnels"}, "invalid_payload"),  # a list, not a string
    ({"archetype": "tank", "procedural_kinds": ["tunnels", 3]}, "invalid_payload"),
    ({"archetype": "tank", "procedural_kinds": 3}, "invalid_payload"),
    ({"archetype": "tank", "procedural_kinds": ["cave"]}, "invalid_payload"),  # a held-out map is no kind
    ({"archetype": "tank", "procedural_kinds": []}, "invalid_payload"),
    ({"archetype": "tank", "blind_teacher": 1}, "invalid_payload"),
])
def test_train_tasks_reject_bad_payloads(payload, code) -> None:
    with pytest.raises(PayloadError) as caught:
        train_archetype.apply(args=[payload]).get()
    assert caught.value.code == code


@pytest.mark.django_db
def test_the_train_command_refuses_an_unknown_map_kind_before_any_work(tmp_path, settings) -> None:
    from django.core.management import CommandError, call_command

    settings.AIWORLD_MODELS_DIR = str(tmp_path)
    with pytest.raises(CommandError, match="map kinds must be some of open, tunnels, gate, crossing; got cave"):
        call_command("train", "--all", "--archetype", "tank", "--procedural", "4", "--procedural-kinds", "cave")
    assert not TrainingRun.objects.exists() and not any(tmp_path.iterdir())


@pytest.mark.django_db
def test_train_member_needs_a_known_model_type() -> None:
    with pytest.raises(PayloadError) as caught:
        train_member.apply(args=[{"archetype": "tank", "model_type": "fused"}]).get()
    assert caught.value.code == "unknown_model_type"
    with pytest.raises(PayloadError):
        nightly.apply(args=[{"scale": "big"}]).get()


@pytest.mark.django_db
def test_nightly_training_is_scheduled_at_night() -> None:
    ensure_schedules()
    row = PeriodicTask.objects.get(task="aiworld.train.nightly")
    assert row.crontab is not None and (row.crontab.hour, row.crontab.minute) == ("3", "0")
    assert row.interval is None


@pytest.mark.django_db
def test_a_packaged_version_installs_on_a_fresh_registry(tmp_path: Path, settings) -> None:
    settings.AIWORLD_MODELS_DIR = str(tmp_path / "models")
    built = tmp_path / "models" / "ranged" / "v3"
    fused = write_precisions(random_mlp(seed=5, temporal=True), built, "fused")
    member = write_precisions(random_mlp(seed=6), built, "combat_dqn")
    training.register_files(archetype="ranged", model_type="fused", version=3, files=fused, metrics={})
    training.register_files(archetype="ranged", model_type="combat_dqn", version=3, files=member, metrics={},
                            fusion_weight=0.0)
    training.record_evaluation(archetype="ranged", model_type="fused", version=3, precision="int8",
                               report={"encounters": 10, "wins": 7, "win_rate": 0.7, "wilson_low": 0.4,
                                       "wilson_high": 0.9})

    folder = shipped_models.package("ranged", 3, root=tmp_path / "shipped")
    shipped = json.loads((folder / "manifest.json").read_text())
    assert set(shipped["files"]) == {"fused", "combat_dqn"}
    assert set(shipped["files"]["fused"]) == {"fp32", "fp16", "int8"}
    assert set(shipped["files"]["combat_dqn"]) == {"int8"}  # members ship in INT8 only
    assert shipped["files"]["combat_dqn"]["int8"]["fusion_weight"] == 0.0
    assert shipped["evaluation"]["wins"] == 7

    ModelVersion.objects.all().delete()
    assert shipped_models.install(tmp_path / "shipped") == {"ranged": "v3: 4 file(s) registered, fused model "
                                                                      "activated"}
    assert training.active_version("ranged") == 3


@pytest.mark.django_db
def test_a_precision_that_failed_a_re_export_is_no_longer_served(tmp_path: Path, settings) -> None:
    settings.AIWORLD_MODELS_DIR = str(tmp_path)
    files = write_precisions(random_mlp(seed=8, temporal=True), tmp_path / "tank" / "v2", "fused")
    training.register_files(archetype="tank", model_type="fused", version=2, files=files, metrics={})
    training.promote("tank", 2)
    assert training.unregister(archetype="tank", model_type="fused", version=2, precisions={"int8"}) == 1
    served = ModelVersion.objects.filter(archetype="tank", version=2, status="active")
    assert set(served.values_list("precision", flat=True)) == {"fp32", "fp16"}


@pytest.mark.django_db
def test_a_candidate_meets_the_active_version_in_the_precision_each_is_served_in(tmp_path: Path, settings) -> None:
    from trainers import jobs
    from trainers.pipeline import Budget, PipelineArgs

    settings.AIWORLD_MODELS_DIR = str(tmp_path)
    old = write_precisions(random_mlp(seed=3, temporal=True), tmp_path / "tank" / "v1", "fused")
    training.register_files(archetype="tank", model_type="fused", version=1,
                            files={p: f for p, f in old.items() if p != "int8"}, metrics={})  # its INT8 failed
    training.promote("tank", 1)
    new = write_precisions(random_mlp(seed=4, temporal=True), tmp_path / "tank" / "v2", "fused")
    training.register_files(archetype="tank", model_type="fused", version=2, files=new, metrics={})
    args = PipelineArgs(archetype="tank", version=2, out_root=tmp_path, budget=Budget(), progress=False,
                        only_scenarios=("cave",))
    report = jobs.evaluate(args, encounters=4)
    assert report["precision"] == "int8" and report["versus_active"]["version"] == 1
    assert report["versus_active"]["encounters"] == 4  # the active one played from its FP32 file


@pytest.mark.django_db
def test_a_release_with_a_newer_shipped_version_replaces_the_shipped_one_not_a_gms_choice(tmp_path: Path,
                                                                                            settings) -> None:
    settings.AIWORLD_MODELS_DIR = str(tmp_path)
    root = tmp_path / "shipped"
    _ship(root, "tank", 1)
    _ship(root, "mage", 1)
    shipped_models.install(root)
    gm = write_precisions(random_mlp(seed=9, temporal=True), tmp_path / "mage" / "v5", "fused")
    training.register_files(archetype="mage", model_type="fused", version=5, files=gm, metrics={})
    registry.activate("mage", "fused", 5)  # a GM's choice for mage

    for archetype in ("tank", "mage"):  # the next release ships version 3 over the same files
        folder = root / archetype
        paths = write_precisions(random_mlp(seed=11, temporal=True), folder, "fused")
        files = {"fused": {p: {"file": path.name, "sha256": sha256_of(path)} for p, path in paths.items()}}
        (folder / "manifest.json").write_text(json.dumps({"version": 3, "files": files}))
    done = shipped_models.install(root)
    assert done["tank"] == "v3: 3 file(s) registered, fused model activated (the active one was an earlier " \
                          "shipped version)"
    assert training.active_version("tank") == 3
    assert not ModelVersion.objects.filter(archetype="tank", version=1).exists()  # its files are gone
    assert training.active_version("mage") == 5 and done["mage"] == "v3: 3 file(s) registered"
    assert shipped_models.install(root)["tank"] == "v3: 0 file(s) registered"


@pytest.mark.django_db
def test_win_rate_history_has_each_versions_latest_evaluation_in_version_order() -> None:
    def evaluation(version: int, win_rate: float, steps: int) -> None:
        training.record_evaluation(archetype="mage", model_type="fused", version=version, precision="fp32",
                                   training_steps=steps, report={"encounters": 100, "wins": int(win_rate * 100),
                                                                 "win_rate": win_rate, "wilson_low": win_rate - 0.1,
                                                                 "wilson_high": win_rate + 0.1})

    evaluation(3, 0.6, steps=100)  # fewer steps than version 1: a new teacher, not longer training
    evaluation(1, 0.4, steps=500)
    evaluation(3, 0.65, steps=100)  # evaluated again: the latest counts
    assert training.win_rate_history() == {"mage": [(1, 0.4, pytest.approx(0.3), pytest.approx(0.5)),
                                                    (3, 0.65, pytest.approx(0.55), pytest.approx(0.75))]}
