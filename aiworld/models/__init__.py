from aiworld.models.api import ApiKey
from aiworld.models.dead_letter import DeadLetter
from aiworld.models.llm import LLMBudgetDay, LLMCall, LLMProvider
from aiworld.models.npc import NPC, DialogueTurn, Faction, Memory, PlayerCharacter, Relationship, Reputation
from aiworld.models.serving import FallbackEvent, InferenceStats, ModelVersion, ServingPolicy
from aiworld.models.training import Evaluation, TrainingRun
from aiworld.models.world import (
    AgentRun,
    EconomicAgent,
    EconomyReport,
    Item,
    Market,
    Price,
    ProductionChain,
    Quest,
    TradeRoute,
    WorldEvent,
    WorldState,
)

__all__ = [
    "NPC", "AgentRun", "ApiKey", "DeadLetter", "DialogueTurn", "EconomicAgent", "EconomyReport", "Evaluation",
    "Faction", "FallbackEvent", "InferenceStats", "Item", "LLMBudgetDay", "LLMCall", "LLMProvider", "Market", "Memory",
    "ModelVersion", "PlayerCharacter", "Price", "ProductionChain", "Quest", "Relationship", "Reputation",
    "ServingPolicy", "TradeRoute", "TrainingRun", "WorldEvent", "WorldState",
]
