"""The LLM provider chain: OpenAI-compatible providers tried in order, each with a hard daily budget
(aiworld.llm.budget) and a circuit breaker shared by all workers (aiworld.llm.breaker). Callers use
`aiworld.llm.chain.complete` and fall back to their offline templates on `NoLLM`."""
