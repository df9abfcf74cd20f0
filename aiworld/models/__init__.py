from aiworld.models.dead_letter import DeadLetter
from aiworld.models.serving import FallbackEvent, InferenceStats, ModelVersion, ServingPolicy

__all__ = ["DeadLetter", "FallbackEvent", "InferenceStats", "ModelVersion", "ServingPolicy"]
