"""The models committed in models/shipped/: every archetype has a fused network whose files match their
manifest and that the pinned onnxruntime runs with the serving contract (history in, 10 logits out, or 11 where
the 11th is action 255)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from aiworld.mobs.onnx_export import sha256_of
from aiworld.mobs.state import ARCHETYPES, HISTORY_LENGTH, MODEL_ACTIONS, MODEL_OUTPUTS, STATE_SIZE
from aiworld.services.shipped_models import SHIPPED_DIR, manifest


@pytest.mark.parametrize("archetype", ARCHETYPES)
def test_a_shipped_fused_network_serves_its_archetype(archetype: str) -> None:
    shipped = manifest(archetype)
    assert shipped is not None, f"no shipped model for {archetype}"
    assert "fp32" in shipped["files"]["fused"]
    for files in shipped["files"].values():
        for entry in files.values():
            assert sha256_of(SHIPPED_DIR / archetype / entry["file"]) == entry["sha256"]
    session = ort.InferenceSession(str(SHIPPED_DIR / archetype / shipped["files"]["fused"]["fp32"]["file"]),
                                   providers=["CPUExecutionProvider"])
    history = np.random.default_rng(0).random((5, HISTORY_LENGTH, STATE_SIZE), dtype=np.float32)
    (logits,) = session.run(None, {session.get_inputs()[0].name: history})
    assert logits.shape in ((5, MODEL_ACTIONS), (5, MODEL_OUTPUTS)) and np.isfinite(logits).all()
    assert shipped["evaluation"]["encounters"] >= 1000


@pytest.mark.django_db
def test_a_fresh_install_decides_with_the_shipped_models(settings) -> None:
    """load_shipped_models -> registry snapshot -> a CPU worker's engine: every archetype is answered by its
    shipped fused network at level 3 (INT8 where it is shipped, else FP32: an INT8 file that failed its parity
    check is not)."""
    from aiworld.mobs import client
    from aiworld.mobs.devices import CPU, Devices
    from aiworld.mobs.engine import Engine
    from aiworld.mobs.payload import decode
    from aiworld.services import registry, shipped_models

    shipped_models.install()
    devices = Devices()
    devices.available_providers = lambda: [CPU]
    engine = Engine(registry.snapshot(), devices=devices)
    n = 2 * len(ARCHETYPES)
    states = np.random.default_rng(1).random((n, STATE_SIZE), dtype=np.float32)
    batch = decode(client.decide_payload(server="m", tick=1, reply_to="r", request_ids=range(n), mob_ids=range(n),
                                         class_ids=[1] * n, archetypes=list(ARCHETYPES) * 2, states=states))
    [decisions] = engine.decide([batch])
    for decision, archetype in zip(decisions, list(ARCHETYPES) * 2, strict=True):
        shipped = manifest(archetype)
        precision = "int8" if "int8" in shipped["files"]["fused"] else "fp32"
        assert (decision["level"], decision["model"]) == (3, f"fused:{shipped['version']}/{precision}"), \
            (archetype, decision)
        assert 0 < decision["conf"] <= 1
