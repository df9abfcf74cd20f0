"""A gpu worker killed in the middle of a batch: another worker answers it; duplicates are harmless
because answers carry request ids. Through the direct consumer (the default, aiworld/mobs/consumer.py);
kombu's redelivery (AIWORLD_GPU_CONSUMER=celery, and the cpu queue) is tested in test_redelivery.py."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from aiworld.mobs import client
from aiworld.mobs.state import STATE_SIZE
from aiworld.services import registry
from tests.support.models import write_slow_model
from tests.support.processes import start_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def holding(broker) -> bool:
    return any(broker.llen(key) == 1 for key in broker.scan_iter("aiworld:direct:gpu:taken:*"))


def test_batch_of_a_killed_worker_is_answered_by_another(worker_env, broker, tmp_path):
    # A model that spins for about a second per batch, so the victim is caught while it computes.
    slow = write_slow_model(tmp_path / "models" / "slow.int8.onnx", iterations=60_000)
    registry.register(archetype="aggressive", model_type="combat_dqn", version=1, precision="int8", path=slow)
    registry.activate("aggressive", "combat_dqn", 1)
    n = 4096
    payload = client.decide_payload(server="m", tick=1, reply_to="replies:kill", request_ids=range(n),
                                    mob_ids=range(n), class_ids=[1] * n, archetypes=["aggressive"] * n,
                                    states=np.full((n, STATE_SIZE), 0.5, np.float32))
    victim = start_worker(tmp_path, "gpu", worker_env, pool="threads", concurrency=1)
    try:
        client.push(broker, payload)
        wait_for(lambda: holding(broker), 15, interval=0.005, what="the victim holds the message")
        # Freeze it first (no sleep to race the batch), check it has not answered, then crash it.
        os.killpg(victim.pid, signal.SIGSTOP)
        assert broker.llen("replies:kill") == 0, "the victim answered before it could be stopped"
        victim.kill_hard()
    finally:
        victim.stop()
    killed_at = time.monotonic()
    survivor = start_worker(tmp_path, "gpu", worker_env, pool="threads", concurrency=1)
    try:
        reply = client.read_reply(broker, "replies:kill", timeout=40)
        assert reply is not None, survivor.log_tail()
        assert reply["worker"] == survivor.name
        assert sorted(d["rid"] for d in reply["decisions"]) == list(range(n))
        assert {d["level"] for d in reply["decisions"]} <= {3, 4}
        assert time.monotonic() - killed_at <= 30
    finally:
        survivor.stop()
