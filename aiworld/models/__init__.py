from aiworld.models.dead_letter import DeadLetter

__all__ = ["DeadLetter"]
