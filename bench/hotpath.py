"""Where a decision's CPU time goes inside one process (no broker): envelope parse as kombu does
it, payload validation, the engine, reply encoding; µs per decision for one message.

    python -m aiworld.launcher exec --fresh -- python bench/hotpath.py [--monsters 1000]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiworld.settings")
import django  # noqa: E402

django.setup()

from aiworld.mobs import client  # noqa: E402
from aiworld.mobs.devices import CPU, Devices  # noqa: E402
from aiworld.mobs.engine import Engine  # noqa: E402
from aiworld.mobs.onnx_export import random_mlp, sha256_of, write_precisions  # noqa: E402
from aiworld.mobs.payload import decode, encode_reply  # noqa: E402
from aiworld.mobs.state import ARCHETYPES  # noqa: E402
from aiworld.services.registry import ModelSpec, ServingSnapshot  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--monsters", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50)
    options = parser.parse_args()
    n = options.monsters
    tmp = Path(tempfile.mkdtemp(prefix="bench-hotpath-"))
    specs = []
    for i, archetype in enumerate(ARCHETYPES):
        path = write_precisions(random_mlp(i), tmp, archetype)["int8"]
        specs.append(ModelSpec(i, archetype, "combat_dqn", 1, "int8", path, sha256_of(path), 1.0))
    devices = Devices()
    devices.available_providers = lambda: [CPU]
    engine = Engine(ServingSnapshot(tuple(specs), None, 1.0), devices=devices)
    states = np.random.default_rng(0).random((n, 64), dtype=np.float32)
    payload = client.decide_payload(server="s", tick=1, reply_to="r", request_ids=range(n), mob_ids=range(n),
                                    class_ids=[1] * n, archetypes=[ARCHETYPES[i % 6] for i in range(n)],
                                    states=states)
    raw = client.decide_message(payload)

    def per_decision(step):
        step()
        started = time.perf_counter()
        for _ in range(options.repeat):
            result = step()
        return (time.perf_counter() - started) / options.repeat / n * 1e6, result

    rows = []
    us, _ = per_decision(lambda: json.loads(base64.b64decode(json.loads(raw)["body"])))
    rows.append(("envelope and body parse (what kombu does)", us))
    us, batch = per_decision(lambda: decode(payload))
    rows.append(("payload validation (aiworld.mobs.payload.decode)", us))
    us, decisions = per_decision(lambda: engine.decide([batch]))
    rows.append(("engine pass (Engine.decide, level 3)", us))
    us, _ = per_decision(lambda: encode_reply(batch, decisions[0], worker="w", task_id="t"))
    rows.append(("reply encoding", us))
    import onnxruntime as ort

    options_ort = ort.SessionOptions()
    options_ort.intra_op_num_threads = 1  # as the engine runs them
    sessions = [ort.InferenceSession(str(s.path), sess_options=options_ort, providers=[CPU]) for s in specs]
    part = states[: n // 6]
    us, _ = per_decision(lambda: [s.run(None, {"state": part}) for s in sessions])
    rows.append(("  of which onnxruntime runs alone", us))
    print(f"\n{n} monsters per message, {options.repeat} repeats, µs per decision:")
    for name, value in rows:
        print(f"| {name} | {value:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
