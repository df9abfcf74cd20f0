"""aiworld.mobs.decide end to end: a tick pushed with raw Redis commands from another process gets
its decisions back from a real gpu worker (threads pool, as in the Procfile)."""

from __future__ import annotations

import numpy as np
import pytest

from aiworld.mobs import client
from aiworld.mobs.state import ARCHETYPES, STATE_SIZE
from tests.support.models import install_models
from tests.support.processes import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gpu_worker(worker_env, tmp_path):
    install_models(tmp_path / "models", ARCHETYPES[:3])  # aggressive, defensive, support have models
    worker = start_worker(tmp_path, "gpu", worker_env, pool="threads", concurrency=4)
    yield worker
    worker.stop()


def tick_payload(n: int, reply_to: str, seed: int = 0, compact: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    states = rng.random((n, STATE_SIZE), dtype=np.float32)
    return client.decide_payload(server="map-1", tick=7, reply_to=reply_to, request_ids=range(1000, 1000 + n),
                                 mob_ids=range(n), class_ids=[1002] * n,
                                 archetypes=[ARCHETYPES[i % 6] for i in range(n)], states=states, compact=compact)


@pytest.mark.parametrize("compact", [True, False])
def test_a_tick_gets_its_decisions_back(gpu_worker, broker, compact):
    payload = tick_payload(60, "replies:map-1", compact=compact)
    client.push(broker, payload)
    reply = client.read_reply(broker, "replies:map-1", timeout=20)
    assert reply is not None, gpu_worker.log_tail(80)
    assert reply["tick"] == 7 and reply["errors"] == []
    decisions = {d["rid"]: d for d in reply["decisions"]}
    assert set(decisions) == set(range(1000, 1060))
    for i, rid in enumerate(range(1000, 1060)):
        d = decisions[rid]
        if ARCHETYPES[i % 6] in ARCHETYPES[:3]:
            assert d["level"] == 3 and 0 <= d["action"] <= 9 and 0 < d["conf"] <= 1
            assert d["model"] == "combat_dqn:1/int8"
        else:  # no model for this archetype: the rules answer
            assert d["level"] == 4 and d["conf"] is None and d["model"] == "rules"
    assert broker.ttl("replies:map-1") == -2 or broker.ttl("replies:map-1") <= 10
