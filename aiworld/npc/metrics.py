"""Prometheus metrics of the NPC side (multi-process safe through PROMETHEUS_MULTIPROC_DIR)."""

from prometheus_client import Counter, Histogram

DIALOGUE = Counter("aiworld_dialogue_replies_total", "Dialogue replies by what produced them", ["source"])
DIALOGUE_LATENCY = Histogram("aiworld_dialogue_latency_seconds", "Dialogue service time per line",
                             ["llm"], buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
LLM_CALLS = Counter("aiworld_llm_calls_total", "LLM requests and refusals", ["provider", "outcome"])
LLM_COST = Counter("aiworld_llm_cost_usd_total", "Spend from usage tokens", ["provider"])
AGENT_RUNS = Counter("aiworld_agent_runs_total", "Agent runs", ["agent", "path"])
