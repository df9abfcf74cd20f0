"""The 21 agents (docs/agents.md): `run(name, inputs)` produces a schema-checked output by the LLM
path (a CrewAI crew over aiworld.llm.chain) or the deterministic offline path, persists it as an
AgentRun and applies its effects to the domain. CrewAI is imported only on the LLM path."""

from __future__ import annotations

from aiworld.agents import dialogue, economy, events, npcs, problem, quest, standing, weather, world
from aiworld.agents import memory as memory_agent
from aiworld.agents.base import Agent
from aiworld.agents.runner import AgentResult, run

_MODULES = (dialogue, npcs, memory_agent, world, quest, economy, problem, events, standing, weather)
AGENTS: dict[str, Agent] = {agent.name: agent for module in _MODULES for agent in module.AGENTS_HERE}
CORE = ("dialogue", "decision", "memory", "world", "quest", "economy")

__all__ = ["AGENTS", "CORE", "Agent", "AgentResult", "run"]
