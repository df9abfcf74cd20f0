"""The engine pass and payload validation of this checkout against an earlier git revision's, in one process.

    python -m aiworld.launcher exec --fresh -- python bench/engine_revisions.py --base e9724a2 [--monsters 2000]

The earlier aiworld/mobs/engine.py, caches.py and payload.py are read with `git show` into a temporary folder and
imported beside the current ones; both engines serve models/shipped at level 3 (as a fresh install loads them).
Twelve simulated ticks (aiworld/mobs/simulation.py, fast and compact forms) are answered by both first and the
decisions must be identical; then the two are timed alternately, 15 rounds, and the medians and their ratio are
printed. No broker traffic; stops by itself.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decisions  # noqa: E402 - sets up Django and the path like the other benchmarks

from aiworld.env import PROJECT_ROOT  # noqa: E402
from aiworld.mobs import client  # noqa: E402
from aiworld.mobs.engine import Engine  # noqa: E402
from aiworld.mobs.payload import decode  # noqa: E402
from aiworld.mobs.simulation import MapSimulation  # noqa: E402
from aiworld.services import registry  # noqa: E402


def load_revision(base: str) -> tuple[type, object]:
    """The Engine class and payload.decode of `base`, imported under other module names."""
    folder = Path(tempfile.mkdtemp(prefix="bench-engine-revisions-"))
    for name in ("engine", "caches", "payload"):
        text = subprocess.run(["git", "show", f"{base}:aiworld/mobs/{name}.py"], cwd=PROJECT_ROOT, check=True,
                              capture_output=True, text=True).stdout
        text = text.replace("from aiworld.mobs.caches import", "from base_caches import")
        text = text.replace("from aiworld.mobs.payload import", "from base_payload import")
        (folder / f"base_{name}.py").write_text(text)
    sys.path.insert(0, str(folder))
    import base_engine  # noqa: PLC0415
    import base_payload  # noqa: PLC0415

    return base_engine.Engine, base_payload.decode


def alternate(functions: dict[str, object], rounds: int = 15) -> dict[str, float]:
    """Median seconds per call of each function, called in turn (order flipped every round)."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for r in range(rounds):
        for name in (list(functions) if r % 2 else list(functions)[::-1]):
            started = time.perf_counter()
            functions[name]()
            times[name].append(time.perf_counter() - started)
    return {name: float(np.median(values)) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the git revision to compare with")
    parser.add_argument("--monsters", type=int, default=2000)
    options = parser.parse_args()
    if not 10 <= options.monsters <= 4096:
        parser.error("--monsters 10..4096")
    base_engine_class, base_decode = load_revision(options.base)
    setup = decisions.machine()
    decisions.prepare("bench-engine-revisions-", "shipped")
    snapshot = registry.snapshot()
    engines = {"current": Engine(snapshot), options.base: base_engine_class(snapshot)}
    n = options.monsters
    sim = MapSimulation(n, seed=0)
    payloads = {form: [] for form in ("fast", "compact")}
    for tick in range(12):
        states = sim.states()
        for form, wire in ((f, client.FORMS[f]) for f in payloads):
            payloads[form].append(client.decide_payload(
                server="bench", tick=tick, reply_to="r", request_ids=range(n), mob_ids=sim.mob_ids.tolist(),
                class_ids=sim.class_ids.tolist(), archetypes=sim.archetypes, states=states,
                state_form=wire.state_form, layout=wire.layout))
        sim.step(np.zeros(n, np.int16))
    batches = [decode(p) for p in payloads["fast"]]
    for payload in payloads["fast"] + payloads["compact"]:  # identical validation
        a, b = decode(payload), base_decode(payload)
        for field in ("request_ids", "mob_ids", "class_ids", "archetype_ids", "states", "pack_ids", "difficulty"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field
    for batch in batches:  # identical decisions, each engine keeping its own L1 over the same ticks
        assert engines["current"].decide([batch]) == engines[options.base].decide([batch])

    print(f"\ncommand: python -m aiworld.launcher exec --fresh -- python {' '.join(sys.argv)}")
    print(f"machine: {setup}")
    print(f"{n} monsters per tick, 12 ticks, models/shipped at level 3; decisions and validated batches identical\n")
    print(f"| measure | current µs per decision | {options.base} µs per decision | current / {options.base} |")
    print("|---|---|---|---|")
    engine = alternate({name: (lambda e=e: [e.decide([b]) for b in batches]) for name, e in engines.items()})
    rows = [("engine pass", {k: v / len(batches) for k, v in engine.items()})]
    for form, items in payloads.items():
        timed = alternate({"current": lambda items=items: [decode(p) for p in items],
                           options.base: lambda items=items: [base_decode(p) for p in items]})
        rows.append((f"validation, {form} form", {k: v / len(items) for k, v in timed.items()}))
    for name, medians in rows:
        now, then = medians["current"], medians[options.base]
        print(f"| {name} | {now * 1e6 / n:.2f} | {then * 1e6 / n:.2f} | {now / then:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
