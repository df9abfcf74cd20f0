"""Admin for GMs: one module per area, registered on import (Django's admin autodiscover)."""

from aiworld.admin import dead_letters, llm, npc, serving, training  # noqa: F401
