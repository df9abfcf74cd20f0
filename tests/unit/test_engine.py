"""The engine with real onnxruntime sessions on small untrained models: each fallback level forced,
errors degrade, hot reload, merging of concurrent messages, difficulty, L1/L2."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from aiworld.mobs import client, rules
from aiworld.mobs.caches import LocalCache
from aiworld.mobs.devices import CPU, Devices
from aiworld.mobs.engine import Batcher, Engine
from aiworld.mobs.onnx_export import random_mlp, sha256_of, write_precisions
from aiworld.mobs.payload import decode
from aiworld.mobs.state import STATE_SIZE, Action
from aiworld.services.registry import ModelSpec, ServingSnapshot


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, dict[str, Path]]:
    directory = tmp_path_factory.mktemp("models")
    return {
        "v1": write_precisions(random_mlp(1), directory, "aggressive-combat-v1"),
        "v2": write_precisions(random_mlp(2), directory, "aggressive-combat-v2"),
        "temporal": write_precisions(random_mlp(3, temporal=True), directory, "aggressive-temporal-v1"),
    }


def specs(files: dict[str, Path], version: int = 1, model_type: str = "combat_dqn", archetype: str = "aggressive"):
    return tuple(ModelSpec(id=version * 10 + i, archetype=archetype, model_type=model_type, version=version,
                           precision=p, path=path, sha256=sha256_of(path), weight=1.0)
                 for i, (p, path) in enumerate(files.items()))


def snapshot(*groups, forced=None, difficulty=1.0) -> ServingSnapshot:
    return ServingSnapshot(models=tuple(s for g in groups for s in g), forced_level=forced, difficulty=difficulty)


def batch(n=12, seed=0, tick=1, difficulty=None):
    states = np.random.default_rng(seed).random((n, STATE_SIZE), dtype=np.float32)
    return decode(client.decide_payload(server="m", tick=tick, reply_to="r", request_ids=range(n), mob_ids=range(n),
                                        class_ids=[1] * n, archetypes=["aggressive"] * (n - 2) + ["tank"] * 2,
                                        states=states, difficulty=difficulty))


def cpu_only() -> Devices:
    devices = Devices()
    devices.available_providers = lambda: [CPU]
    return devices


def test_level_3_runs_the_int8_model_and_rules_cover_archetypes_without_one(model_files):
    engine = Engine(snapshot(specs(model_files["v1"])), devices=cpu_only())
    [decisions] = engine.decide([batch()])
    assert engine.controller.level == 3
    ml, ruled = decisions[:10], decisions[10:]
    assert all(d["level"] == 3 and d["model"] == "combat_dqn:1/int8" and 0 < d["conf"] <= 1 for d in ml)
    assert all(d["level"] == 4 and d["model"] == "rules" and d["conf"] is None for d in ruled)
    # the rules' own answers for those rows (the engine runs the rules only on rows no model answered)
    b = batch()
    assert [d["action"] for d in ruled] == rules.decide(b.states[10:], b.archetype_ids[10:]).tolist()


def test_confidence_is_the_models_softmax_probability(model_files):
    import onnxruntime as ort

    engine = Engine(snapshot(specs(model_files["v1"])), devices=cpu_only())
    b = batch()
    [decisions] = engine.decide([b])
    session = ort.InferenceSession(str(model_files["v1"]["int8"]), providers=[CPU])
    logits = session.run(None, {"state": b.states[:10]})[0]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    assert [d["action"] for d in decisions[:10]] == probs.argmax(1).tolist()
    assert np.allclose([d["conf"] for d in decisions[:10]], probs.max(1), atol=1e-4)
    assert len({d["conf"] for d in decisions[:10]}) > 1  # not a constant


def test_level_1_forced_runs_fp16_through_the_level_1_path(model_files):
    devices = Devices(level1_providers=[CPU])  # the level-1 code path on a machine without a GPU
    engine = Engine(snapshot(specs(model_files["v1"]), forced=1), devices=devices)
    [decisions] = engine.decide([batch()])
    assert {d["level"] for d in decisions[:10]} == {1} and decisions[0]["model"] == "combat_dqn:1/fp16"


def test_level_2_forced_without_tensorrt_is_skipped_with_a_logged_reason(model_files, caplog):
    engine = Engine(snapshot(specs(model_files["v1"]), forced=2), devices=cpu_only())
    with caplog.at_level(logging.WARNING, "aiworld.mobs.engine"):
        [decisions] = engine.decide([batch()])
    assert "level 2 skipped: TensorRT execution provider absent" in caplog.text
    assert {d["level"] for d in decisions[:10]} == {3}


def test_level_1_unavailable_on_a_cpu_only_machine(model_files):
    engine = Engine(snapshot(specs(model_files["v1"]), forced=1), devices=cpu_only())
    [decisions] = engine.decide([batch()])
    assert {d["level"] for d in decisions[:10]} == {3}


@pytest.mark.parametrize(("forced", "level", "action"), [(4, 4, None), (5, 5, Action.TRADITIONAL_AI)])
def test_levels_4_and_5_forced(model_files, forced, level, action):
    engine = Engine(snapshot(specs(model_files["v1"]), forced=forced), devices=cpu_only())
    [decisions] = engine.decide([batch()])
    assert {d["level"] for d in decisions} == {level}
    assert all(d["conf"] is None for d in decisions)
    if action is not None:
        assert {d["action"] for d in decisions} == {action}


def test_a_broken_model_is_answered_by_rules_and_degrades_after_three_batches(model_files, tmp_path):
    broken = dict(model_files["v1"])
    bad = tmp_path / "bad.int8.onnx"
    bad.write_bytes(model_files["v1"]["int8"].read_bytes())
    group = tuple(ModelSpec(id=1, archetype="aggressive", model_type="combat_dqn", version=1, precision="int8",
                            path=bad, sha256=sha256_of(bad), weight=1.0) for _ in range(1))
    bad.write_bytes(b"corrupted after registration")
    del broken
    engine = Engine(snapshot(group), devices=cpu_only())
    b = batch()
    for _ in range(3):
        [decisions] = engine.decide([b])
        assert {d["level"] for d in decisions} == {4}  # answered, by the rules
        assert [d["action"] for d in decisions] == rules.decide(b.states, b.archetype_ids).tolist()
    assert engine.controller.level == 4
    assert "3 bad batches" in engine.controller.transitions[-1].reason


def test_hot_reload_switches_versions_without_a_restart(model_files):
    engine = Engine(snapshot(specs(model_files["v1"])), devices=cpu_only())
    assert engine.decide([batch()])[0][0]["model"] == "combat_dqn:1/int8"
    engine.apply_snapshot(snapshot(specs(model_files["v2"], version=2)), generation=2)
    assert engine.decide([batch()])[0][0]["model"] == "combat_dqn:2/int8"
    assert engine.loaded_sessions() == 1  # the retired version's session was dropped


def test_models_becoming_active_lift_a_rules_only_engine(model_files):
    engine = Engine(snapshot(), devices=cpu_only())
    assert engine.controller.level == 4
    engine.apply_snapshot(snapshot(specs(model_files["v1"])), generation=1)
    assert engine.controller.level == 3


def test_fusion_of_two_models_and_the_temporal_history(model_files):
    group = specs(model_files["v1"]) + specs(model_files["temporal"], model_type="temporal_transformer")
    engine = Engine(snapshot(group), devices=cpu_only())
    for tick in range(3):
        [decisions] = engine.decide([batch(tick=tick, seed=tick)])
    assert decisions[0]["model"] == "combat_dqn:1+temporal_transformer:1/int8"
    assert len(engine.memory) == 12  # L1 keeps every monster's recent states for the temporal model


def test_the_first_pass_of_a_temporal_model_keeps_l1_and_pads_with_zeros(model_files):
    # The pass that loads the first temporal model used to skip L1 and repeat the state ten times,
    # where L1 (and training) pad a new monster's history with zeros.
    import onnxruntime as ort

    path = model_files["temporal"]["fp32"]
    engine = Engine(snapshot(specs({"fp32": path}, model_type="temporal_transformer")), devices=cpu_only())
    b = batch(n=12)
    [decisions] = engine.decide([b])
    assert len(engine.memory) == 12
    window = np.zeros((10, 10, STATE_SIZE), np.float32)
    window[:, -1] = b.states[:10]  # the ten aggressive monsters, zero-padded
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: window})[0]
    assert [d["action"] for d in decisions[:10]] == logits.argmax(axis=1).tolist()


def test_difficulty_hands_monsters_to_the_traditional_ai_deterministically(model_files):
    engine = Engine(snapshot(specs(model_files["v1"])), devices=cpu_only())
    n = 400
    assert all(d["action"] != 255 for d in engine.decide([batch(n, difficulty=[1.0] * n)])[0])
    assert all(d["action"] == 255 for d in engine.decide([batch(n, difficulty=[0.0] * n)])[0])
    half = [d["action"] == 255 for d in engine.decide([batch(n, difficulty=[0.5] * n)])[0]]
    again = [d["action"] == 255 for d in engine.decide([batch(n, difficulty=[0.5] * n)])[0]]
    assert 0.35 < sum(half) / n < 0.65 and half == again


def test_l2_cache_answers_repeated_states(model_files):
    engine = Engine(snapshot(specs(model_files["v1"])), devices=cpu_only(), l2=LocalCache())
    first = engine.decide([batch()])[0]
    second = engine.decide([batch()])[0]
    assert [d["action"] for d in first] == [d["action"] for d in second]
    assert engine.l2.hits == 10 and engine.l2.misses == 10


def test_batcher_merges_messages_that_queue_up(model_files):

    engine = Engine(snapshot(specs(model_files["v1"])), devices=cpu_only())
    entered, gate = threading.Event(), threading.Event()
    original = engine.decide

    def slow_decide(batches):
        entered.set()
        gate.wait(5)
        return original(batches)

    engine.decide = slow_decide
    batcher = Batcher(engine)
    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(batcher.decide, batch(seed=0), 10)
        assert entered.wait(5)  # the first thread leads and is held inside the engine
        rest = [pool.submit(batcher.decide, batch(seed=i), 10) for i in range(1, 5)]
        deadline = time.monotonic() + 5
        while batcher._queue.qsize() < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        gate.set()
        answers = [first.result(10)] + [f.result(10) for f in rest]
    assert all(len(a) == 12 for a in answers)
    assert batcher.merged_passes >= 1  # the four that queued behind the leader ran as one pass
    assert engine.stats.batches == 2


def test_two_passes_run_at_once_and_what_queues_behind_them_is_merged():
    class Gated:  # holds each pass until the gate opens, counting the passes inside at once
        def __init__(self):
            self.inside = self.most = self.calls = 0
            self.lock, self.gate = threading.Lock(), threading.Event()

        def decide(self, batches):
            with self.lock:
                self.inside += 1
                self.calls += 1
                self.most = max(self.most, self.inside)
            self.gate.wait(20)
            with self.lock:
                self.inside -= 1
            return [[b] for b in batches]

    engine = Gated()
    batcher = Batcher(engine, passes=2)
    with ThreadPoolExecutor(5) as pool:
        leaders = [pool.submit(batcher.decide, f"lead{i}", 30) for i in range(2)]
        deadline = time.monotonic() + 5
        while engine.inside < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert engine.inside == 2  # a second pass started while the first was still running
        rest = [pool.submit(batcher.decide, f"queued{i}", 30) for i in range(3)]
        while batcher._queue.qsize() < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert batcher._queue.qsize() == 3  # both leads taken: these wait for a leader
        engine.gate.set()
        answers = [f.result(30) for f in leaders + rest]
    assert answers == [["lead0"], ["lead1"], ["queued0"], ["queued1"], ["queued2"]]
    assert engine.most == 2 and engine.calls == 3 and batcher.merged_passes == 1


def test_concurrent_passes_decide_as_one_pass_at_a_time_with_each_monsters_history(model_files):
    # FP32: an INT8 model's dynamic quantization scales by the rows of the run, which merging changes
    group = (specs({"fp32": model_files["v1"]["fp32"]})
             + specs({"fp32": model_files["temporal"]["fp32"]}, model_type="temporal_transformer"))

    def map_batch(index, tick):  # four maps with monsters of their own
        n = 300
        states = np.random.default_rng(index * 100 + tick).random((n, STATE_SIZE), dtype=np.float32)
        return decode(client.decide_payload(server="m", tick=tick, reply_to="r", request_ids=range(n),
                                            mob_ids=range(index * n, (index + 1) * n), class_ids=[1] * n,
                                            archetypes=["aggressive"] * n, states=states))

    ticks = [[map_batch(index, tick) for index in range(4)] for tick in range(6)]
    alone = Engine(snapshot(group), devices=cpu_only())
    expected = [[alone.decide([b])[0] for b in tick] for tick in ticks]
    engine = Engine(snapshot(group), devices=cpu_only())
    batcher = Batcher(engine, passes=2)
    with ThreadPoolExecutor(4) as pool:
        got = [list(pool.map(lambda b: batcher.decide(b, 10), tick)) for tick in ticks]
    assert got == expected  # the same actions and confidences, the history models included
    stats = engine.take_stats()
    assert stats.decisions == 6 * 4 * 300 and engine.stats.decisions == 0
    assert len(engine.memory) == 1200


def test_a_batch_queued_as_the_leader_lets_go_is_still_answered():
    # Followers sleep until answered (no polling). Force the narrow race: a batch is queued after
    # the leader's last look at the queue and before it lets go; its own look after letting go
    # must find it, or the follower waits out its timeout.
    class Echo:
        def decide(self, batches):
            return [[b] for b in batches]

    class RacingBatcher(Batcher):
        raced = False

        def _drain(self):
            super()._drain()
            if not self.raced:  # the first leader, queue empty: let a follower queue now
                self.raced = True
                started.set()
                deadline = time.monotonic() + 5
                while self._queue.empty() and time.monotonic() < deadline:
                    time.sleep(0.001)
                time.sleep(0.05)  # the follower fails to take the lead and goes to sleep

    started = threading.Event()
    batcher = RacingBatcher(Echo())
    with ThreadPoolExecutor(2) as pool:
        leader = pool.submit(batcher.decide, "first", 2)
        assert started.wait(5)
        follower = pool.submit(batcher.decide, "second", 2)
        assert leader.result(5) == ["first"]
        assert follower.result(5) == ["second"]  # TimeoutError here if it was left behind


def test_batcher_runs_alone_in_the_calling_thread(model_files):
    engine = Engine(snapshot(specs(model_files["v1"])), devices=cpu_only())
    batcher = Batcher(engine)
    calls = []
    original = engine.decide
    engine.decide = lambda batches: calls.append(threading.current_thread().name) or original(batches)
    assert len(batcher.decide(batch(), 5)) == 12
    assert calls == [threading.current_thread().name]  # no hand-off to another thread


def test_working_memory_keeps_the_last_ten_states_per_monster():
    from aiworld.mobs.caches import WorkingMemory

    memory = WorkingMemory(max_monsters=1024)
    for t in range(12):
        states = np.full((3, STATE_SIZE), t / 100, np.float32)
        history = memory.update(np.array([5, 6, 7]), states)
    assert history.shape == (3, 10, 64)
    assert np.allclose(history[0, :, 0], np.arange(2, 12) / 100)  # oldest first, the last ten
    fresh = memory.update(np.array([99]), np.full((1, STATE_SIZE), 0.5, np.float32))
    assert np.allclose(fresh[0, :-1], 0) and np.allclose(fresh[0, -1], 0.5)  # a new monster: zero-padded


def test_working_memory_evicts_the_least_recently_seen_when_full():
    from aiworld.mobs.caches import WorkingMemory

    memory = WorkingMemory(max_monsters=1024)
    memory.update(np.arange(1024), np.zeros((1024, STATE_SIZE), np.float32))
    memory.update(np.arange(512), np.zeros((512, STATE_SIZE), np.float32))  # seen again: recent
    memory.update(np.arange(2000, 2010), np.zeros((10, STATE_SIZE), np.float32))
    assert len(memory) <= 1024 and all(m in memory._slots for m in range(512))
    assert all(m in memory._slots for m in range(2000, 2010))


def test_working_memory_never_hands_a_new_or_idle_monster_someone_elses_past():
    from aiworld.mobs.caches import WorkingMemory

    memory = WorkingMemory(max_monsters=1024)
    for _ in range(3):
        memory.update(np.arange(1024), np.full((1024, STATE_SIZE), 0.7, np.float32))
    reused = memory.update(np.arange(2000, 2010), np.full((10, STATE_SIZE), 0.5, np.float32))  # evicted slots
    assert np.allclose(reused[:, :-1], 0) and np.allclose(reused[:, -1], 0.5)
    forgetful = WorkingMemory(idle_s=0.0)  # every monster is idle too long at its next update
    forgetful.update(np.array([1]), np.full((1, STATE_SIZE), 0.7, np.float32))
    again = forgetful.update(np.array([1]), np.full((1, STATE_SIZE), 0.5, np.float32))
    assert np.allclose(again[0, :-1], 0) and np.allclose(again[0, -1], 0.5)


def test_an_engine_that_misses_the_deadline_answers_with_level_5(model_files, monkeypatch):
    from aiworld.services import mobs

    class SlowServing:
        def decide(self, batch, timeout):
            raise TimeoutError("too slow")

        def reply(self, batch, decisions, task_id):
            self.sent = decisions

        def account(self, batch, decisions):
            pass

    slow = SlowServing()
    monkeypatch.setattr(mobs, "serving", lambda worker="": slow)
    assert mobs.answer(batch(), task_id="t", worker="w", timeout=0.01) == 12
    assert {(d["action"], d["level"]) for d in slow.sent} == {(255, 5)}


def test_an_eleventh_output_is_action_255_and_a_ten_output_member_gives_it_nothing(tmp_path):
    from aiworld.mobs.onnx_export import mlp_model

    def constant(scores: list[float]) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(np.zeros((STATE_SIZE, len(scores)), np.float32), np.array(scores, np.float32))]

    hand_over = [0.0] * 10 + [3.0]  # prefers the map server's own AI
    attack = [0.0, 2.0] + [0.0] * 8  # a classic 10-output model preferring ATTACK
    eleven = write_precisions(mlp_model(constant(hand_over)), tmp_path, "eleven")
    ten = write_precisions(mlp_model(constant(attack)), tmp_path, "ten")
    fp32 = {"fp32": eleven["fp32"]}
    [alone] = Engine(snapshot(specs(fp32)), devices=cpu_only()).decide([batch(n=4)])
    assert [d["action"] for d in alone[:2]] == [Action.TRADITIONAL_AI] * 2
    probs = np.exp(hand_over) / np.exp(hand_over).sum()  # replies round conf to 4 places
    assert alone[0]["level"] == 3 and alone[0]["conf"] == pytest.approx(probs[10], abs=1e-4)
    # fused with a 10-output model: the mean of the padded softmaxes (255 gets 0 from the 10-output one)
    mixed = specs(fp32) + specs({"fp32": ten["fp32"]}, version=2, model_type="skill_dqn")
    [fused] = Engine(snapshot(mixed), devices=cpu_only()).decide([batch(n=4)])
    other = np.append(np.exp(attack) / np.exp(attack).sum(), 0.0)
    mean = (probs + other) / 2
    assert fused[0]["action"] == (Action.TRADITIONAL_AI if mean.argmax() == 10 else mean.argmax())
    assert fused[0]["conf"] == pytest.approx(mean.max(), abs=1e-4)
