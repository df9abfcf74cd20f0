"""The NPC side: dialogue, memory, quests, factions, economy and the agents that drive them."""
