"""What the worker's hardware offers each fallback level, and GPU memory readings."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import onnxruntime as ort

MEMORY_PRESSURE = 0.95  # GPU levels step aside above this fraction of GPU memory in use
TRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


class Devices:
    def __init__(self, level1_providers: list[str] | None = None, memory_ttl_s: float = 10.0):
        # AIWORLD_LEVEL1_PROVIDERS (comma-separated) overrides level 1's providers: for diagnosis and
        # for running the level-1 code path on a machine without a GPU (the tests do).
        override = os.environ.get("AIWORLD_LEVEL1_PROVIDERS")
        self.level1_override = level1_providers or ([p for p in override.split(",") if p] if override else None)
        self.memory_ttl_s = memory_ttl_s
        self._memory: tuple[float, tuple[int, int] | None] = (0.0, None)

    def available_providers(self) -> list[str]:
        return ort.get_available_providers()

    def providers(self, level: int) -> list[str]:
        available = self.available_providers()
        if level == 1:
            if self.level1_override:
                return self.level1_override
            return [p for p in (TRT, CUDA) if p in available]
        if level == 2:
            return [TRT] if TRT in available else []
        return [CPU]

    def unavailable(self, level: int) -> str | None:
        """None when the level can run here, else the reason (logged and shown to GMs)."""
        if level in (1, 2):
            if not self.providers(level):
                if level == 2:
                    return "TensorRT execution provider absent (the CUDA provider has no fast INT8 kernels)"
                return "no CUDA or TensorRT execution provider (CPU-only onnxruntime or no GPU)"
            if not (level == 1 and self.level1_override):
                memory = self.memory()
                if memory and memory[1] and memory[0] / memory[1] > MEMORY_PRESSURE:
                    return f"GPU memory pressure ({memory[0] / memory[1]:.0%} in use)"
        return None

    def memory(self) -> tuple[int, int] | None:
        """(used, total) bytes of GPU 0 from nvidia-smi, cached; None without a GPU."""
        at, value = self._memory
        if time.monotonic() - at < self.memory_ttl_s:
            return value
        value = None
        if shutil.which("nvidia-smi"):
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used,memory.total",
                                      "--format=csv,noheader,nounits", "-i", "0"],
                                     capture_output=True, text=True, timeout=5).stdout.strip()
                used, total = (int(float(v)) * 1024 * 1024 for v in out.split(","))
                value = (used, total)
            except (OSError, ValueError, subprocess.SubprocessError):
                value = None
        self._memory = (time.monotonic(), value)
        return value
