"""A CrewAI LLM that sends every call through aiworld.llm.chain (budgets, circuit breaker, provider
fallback, call log) instead of CrewAI's own clients. Imported only on the LLM path (crewai is heavy)."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from crewai import BaseLLM
from django.db import connection
from pydantic import PrivateAttr

from aiworld.llm import chain


class ChainLLM(BaseLLM):
    purpose: str = "agent"
    max_output_tokens: int = 800
    _cost: Decimal = PrivateAttr(default=Decimal("0"))
    _calls: int = PrivateAttr(default=0)
    _failure: chain.NoLLM | None = PrivateAttr(default=None)
    _owner: int = PrivateAttr(default_factory=threading.get_ident)

    @property
    def cost_usd(self) -> Decimal:
        return self._cost

    @property
    def failure(self) -> chain.NoLLM | None:
        return self._failure

    def call(self, messages: Any, tools: Any = None, callbacks: Any = None, available_functions: Any = None,
             from_task: Any = None, from_agent: Any = None, response_model: Any = None) -> str:
        if self._failure is not None:  # the chain already said no: do not let CrewAI retry it
            raise self._failure
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        # CrewAI adds keys of its own (cache_breakpoint...); providers get role and content only
        plain = [{"role": m["role"], "content": m["content"]} for m in messages]
        try:
            completion = chain.complete(plain, purpose=self.purpose, max_tokens=self.max_output_tokens,
                                        temperature=self.temperature if self.temperature is not None else 0.7,
                                        json_mode=False)  # the runner parses (and tolerates a fence)
        except chain.NoLLM as exc:
            self._failure = exc
            raise
        finally:
            # CrewAI may call from its own worker thread: Django opened a connection for that thread,
            # which nothing else would close (a leak per kickoff in a long-lived worker)
            if threading.get_ident() != self._owner:
                connection.close()
        self._calls += 1
        self._cost += completion.cost_usd
        return completion.text

    def get_input_tokens_count(self, messages: Any, tools: Any = None, response_model: Any = None) -> int:
        # The chain reserves the worst case itself; this estimate only feeds CrewAI's context checks.
        text = messages if isinstance(messages, str) else " ".join(str(m.get("content", "")) for m in messages)
        return len(text) // 4 + 1

    def supports_function_calling(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 16_000
