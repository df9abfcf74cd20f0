"""Where a decision's CPU time goes inside one process (no broker): envelope parse as kombu does
it, payload validation, the engine, reply encoding; µs per decision for one message, for each wire
form (docs/protocol.md §5).

    python -m aiworld.launcher exec --fresh -- python bench/hotpath.py [--monsters 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from kombu.utils import json as kombu_json

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
from aiworld.protocol.envelope import decode_body  # noqa: E402
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

    def per_decision(step):
        step()
        started = time.perf_counter()
        for _ in range(options.repeat):
            result = step()
        return (time.perf_counter() - started) / options.repeat / n * 1e6, result

    rows = []
    for name, wire in client.FORMS.items():
        if name == "json":
            continue
        payload = client.decide_payload(server="s", tick=1, reply_to="r", request_ids=range(n), mob_ids=range(n),
                                        class_ids=[1] * n, archetypes=[ARCHETYPES[i % 6] for i in range(n)],
                                        states=states, state_form=wire.state_form, layout=wire.layout)
        raw = client.decide_message(payload, raw_body=wire.raw_body)
        rows.append((f"**{name}** form: {len(raw) / n:.0f} bytes per decision", None))
        us, _ = per_decision(lambda raw=raw: decode_body(json.loads(raw)))
        rows.append(("envelope and body parse (what kombu does)", us))
        message = json.loads(raw)
        us, _ = per_decision(lambda message=message: kombu_json.dumps([message, "", "gpu"]))
        rows.append(("copy kept until the ack (kombu re-serializes the message)", us))
        us, batch = per_decision(lambda payload=payload: decode(payload))
        rows.append(("payload validation (aiworld.mobs.payload.decode)", us))
        us, decisions = per_decision(lambda batch=batch: engine.decide([batch]))
        rows.append(("engine pass (Engine.decide, level 3)", us))
        us, _ = per_decision(lambda batch=batch, decisions=decisions: encode_reply(batch, decisions[0], worker="w",
                                                                                   task_id="t"))
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
        print(f"| {name} | {'' if value is None else f'{value:.2f}'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
