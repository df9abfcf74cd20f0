"""Small untrained ONNX models, registered and activated, for serving tests."""

from __future__ import annotations

from pathlib import Path

from aiworld.mobs.onnx_export import random_mlp, write_precisions
from aiworld.services import registry


def install_models(directory: Path, archetypes: tuple[str, ...], model_types: tuple[str, ...] = ("combat_dqn",),
                   version: int = 1, seed: int = 0, temporal_types: tuple[str, ...] = ("temporal_transformer",),
                   activate: bool = True) -> list:
    entries = []
    for a, archetype in enumerate(archetypes):
        for t, model_type in enumerate(model_types):
            model = random_mlp(seed + 100 * a + t + 1000 * version, temporal=model_type in temporal_types)
            paths = write_precisions(model, directory, f"{archetype}-{model_type}-v{version}")
            for precision, path in paths.items():
                entries.append(registry.register(archetype=archetype, model_type=model_type, version=version,
                                                 precision=precision, path=path))
            if activate:
                registry.activate(archetype, model_type, version)
    return entries
