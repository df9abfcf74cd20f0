"""Run one agent: the LLM path through a CrewAI crew when a provider is usable, else (or when the
answer is unusable) the agent's deterministic offline path. Every run writes an AgentRun row and
persists its effects (agent.apply) in the same transaction.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from pydantic import BaseModel, ValidationError

from aiworld.agents.base import Agent, _source
from aiworld.errors import PayloadError
from aiworld.models import AgentRun
from aiworld.npc.safety import output_problem

log = logging.getLogger("aiworld.agents")

# CrewAI must never reach the network: telemetry, tracing, the version check and the first-run prompt off.
CREWAI_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true", "CREWAI_DISABLE_TRACKING": "true", "OTEL_SDK_DISABLED": "true",
    "CREWAI_TRACING_ENABLED": "false", "CREWAI_DISABLE_VERSION_CHECK": "true",
    "CREWAI_STORAGE_DIR": os.path.join(tempfile.gettempdir(), "aiworld-crewai"),
}
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


@dataclass
class AgentResult:
    output: BaseModel
    path: str                 # "llm" | "offline"
    reason: str               # why the offline path ran; "" for llm
    run_id: int
    cost_usd: Decimal
    applied: dict = field(default_factory=dict)  # rows the run created or changed


@dataclass
class _Attempt:
    output: BaseModel | None = None
    reason: str = ""
    error: str = ""
    cost: Decimal = Decimal("0")


def get(name: str) -> Agent:
    from aiworld.agents import AGENTS

    try:
        return AGENTS[name]
    except KeyError:
        raise PayloadError("unknown_agent", f"no agent named {name!r}; known: {', '.join(sorted(AGENTS))}") from None


def parse_inputs(agent: Agent, inputs: Any) -> BaseModel:
    if not isinstance(inputs, dict):
        raise PayloadError("invalid_inputs", f"{agent.name}: inputs must be an object")
    try:
        return agent.inputs_model.model_validate({k: v for k, v in inputs.items() if k != "_request_id"})
    except ValidationError as exc:
        raise PayloadError("invalid_inputs", f"{agent.name}: {_errors(exc)}") from None


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:5])


def _json_of(text: str) -> Any:
    """The JSON in a final answer (a ```json fence tolerated, nothing else); ValueError if there is none."""
    text = text.strip()
    if match := _FENCE.match(text):
        text = match.group(1)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None


def _validated(agent: Agent, data: Any) -> BaseModel:
    """One answer as the agent's schema, its free text checked; ValueError says why it is not usable."""
    try:
        output = agent.output_model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"schema: {_errors(exc)}") from None
    if problem := unsafe_text(output):
        raise ValueError(f"unsafe text: {problem}")
    return output


def parse_answer(agent: Agent, text: str) -> BaseModel:
    """The model's final answer as the agent's schema; ValueError says why it is not usable."""
    return _validated(agent, _json_of(text))


def unsafe_text(output: BaseModel) -> str | None:
    """The first free-text value the game must not show (lengths are the schema's business)."""
    def walk(value: Any, where: str) -> str | None:
        if isinstance(value, str):
            problem = output_problem(value, max_length=4000) if value else None
            return f"{where}: {problem}" if problem else None
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if problem := walk(item, f"{where}.{key}" if where else str(key)):
                return problem
        return None

    return walk(output.model_dump(mode="json"), "")


def prompt(agent: Agent, inputs: BaseModel) -> tuple[str, str]:
    facts = {"inputs": inputs.model_dump(mode="json"), "context": agent.context(inputs)}
    schema = json.dumps(agent.output_model.model_json_schema(), separators=(",", ":"))
    description = (f"{agent.task}\n\nFacts (JSON):\n{json.dumps(facts, default=str)}\n\n"
                   f"Answer with ONE JSON object and nothing else, valid against this JSON schema:\n{schema}")
    expected = "One JSON object valid against the JSON schema in the task; no prose, no markdown, no extra keys."
    return description, expected


def _kickoff(agent: Agent, description: str, expected: str) -> tuple[str | None, _Attempt]:
    """One CrewAI crew, one chain call: (the raw final answer, or None with the reason in the attempt)."""
    for key, value in CREWAI_ENV.items():
        os.environ.setdefault(key, value)
    from crewai import Agent as CrewAgent
    from crewai import Crew, Process, Task

    from aiworld.agents.crew_llm import ChainLLM

    llm = ChainLLM(model="aiworld-chain", purpose=agent.name)
    # max_iter/max_retry_limit: one final answer, one chain call; the chain already falls back across providers
    member = CrewAgent(role=agent.role, goal=agent.goal, backstory=agent.backstory, llm=llm, verbose=False,
                       allow_delegation=False, max_iter=1, max_retry_limit=0)
    task = Task(description=description, expected_output=expected, agent=member)
    crew = Crew(agents=[member], tasks=[task], process=Process.sequential, memory=False, verbose=False,
                share_crew=False)
    try:
        answer = crew.kickoff()
    except Exception as exc:  # CrewAI wraps the chain's NoLLM in its own layers; llm.failure tells
        if llm.failure is not None:
            reason = "no_llm" if llm.failure.reason == "no_provider" else llm.failure.reason
            return None, _Attempt(reason=reason, error=str(llm.failure), cost=llm.cost_usd)
        log.warning("agent %s: crew failed: %s", agent.name, exc)
        return None, _Attempt(reason=f"crew_error: {type(exc).__name__}", error=str(exc)[:2000], cost=llm.cost_usd)
    return answer.raw or "", _Attempt(cost=llm.cost_usd)


def _crew_answer(agent: Agent, inputs: BaseModel) -> _Attempt:
    raw, attempt = _kickoff(agent, *prompt(agent, inputs))
    if raw is None:
        return attempt
    try:
        return _Attempt(output=parse_answer(agent, raw), cost=attempt.cost)
    except ValueError as exc:
        return _Attempt(reason=f"invalid_output: {exc}"[:200], error=raw[:2000], cost=attempt.cost)


def _llm_attempt(agent: Agent, inputs: BaseModel) -> _Attempt:
    from aiworld.llm import chain

    if not chain.available():
        return _Attempt(reason="no_llm")
    return _crew_answer(agent, inputs)


def _stored(agent: Agent, request_id: str) -> AgentResult | None:
    run = AgentRun.objects.filter(agent=agent.name, inputs__contains={"_request_id": request_id}).first()
    if run is None:
        return None
    data = {k: v for k, v in run.output.items() if k != "_applied"}
    return AgentResult(output=agent.output_model.model_validate(data), path=run.path, reason=run.reason,
                       run_id=run.pk, cost_usd=run.cost_usd, applied=run.output.get("_applied", {}))


def run(name: str, inputs: dict, *, allow_llm: bool = True, request_id: str = "") -> AgentResult:
    """Produce, persist and apply one output of agent `name`. PayloadError for an unknown agent or bad inputs.

    With a request_id, a second run of the same request returns the first run's result (tasks are
    acknowledged late, so a redelivered message must not create a second event/quest)."""
    agent = get(name)
    parsed = parse_inputs(agent, inputs)
    started = time.perf_counter()
    if request_id and (done := _stored(agent, request_id)):
        return done
    # Outside any transaction: the chain must not hold its budget row locked through an HTTP call.
    attempt = _llm_attempt(agent, parsed) if allow_llm else _Attempt(reason="disabled")
    return _persist(agent, parsed, request_id, attempt, started)


def _persist(agent: Agent, parsed: BaseModel, request_id: str, attempt: _Attempt, started: float) -> AgentResult:
    """Apply the LLM's output (or the offline one when there is none or apply refuses it) and record the run."""
    output, reason, error = attempt.output, attempt.reason, attempt.error
    with transaction.atomic():
        if request_id:  # serialise duplicates of one request, then look again
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"agent:{agent.name}:{request_id}"])
            if done := _stored(agent, request_id):
                return done
        applied: dict | None = None
        if output is not None:
            try:
                token = _source.set("llm")  # rows the apply creates say they came from an LLM
                try:
                    with transaction.atomic():
                        applied = agent.apply(output, parsed)
                finally:
                    _source.reset(token)
            except (ValueError, ObjectDoesNotExist, DjangoValidationError) as exc:
                # the model referred to rows that do not exist, or values the domain refuses
                reason, error, output = f"invalid_output: apply: {exc}"[:200], str(exc), None
        if output is None:
            output = agent.offline(parsed)
            applied = agent.apply(output, parsed)
        path = "offline" if reason else "llm"
        stored_inputs = parsed.model_dump(mode="json") | ({"_request_id": request_id} if request_id else {})
        row = AgentRun.objects.create(
            agent=agent.name, path=path, reason=reason[:200], inputs=stored_inputs,
            output=output.model_dump(mode="json") | {"_applied": applied or {}},
            valid=not reason.startswith("invalid_output"), error=error[:5000], cost_usd=attempt.cost,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
    from aiworld.npc import metrics

    metrics.AGENT_RUNS.labels(agent.name, path).inc()
    return AgentResult(output=output, path=path, reason=reason, run_id=row.pk, cost_usd=attempt.cost,
                       applied=applied or {})


# -- batches: several non-interactive runs of one agent answered by ONE LLM call ------------------
BATCH_MAX = 8  # items per call: the answer must fit the provider's output tokens and the cpu time limit


def batch_prompt(agent: Agent, items: list[BaseModel]) -> tuple[str, str]:
    facts = [{"item": i, "inputs": p.model_dump(mode="json"), "context": agent.context(p)} for i, p in enumerate(items)]
    schema = json.dumps(agent.output_model.model_json_schema(), separators=(",", ":"))
    description = (f"{agent.task}\n\nDo this for each of the {len(items)} items below, independently.\n"
                   f"Items (JSON):\n{json.dumps(facts, default=str)}\n\n"
                   f"Answer with ONE JSON array of exactly {len(items)} objects, in the items' order, and nothing "
                   f"else; each object valid against this JSON schema:\n{schema}")
    expected = (f"A JSON array of {len(items)} objects, one per item in order, each valid against the schema; "
                "no prose, no markdown.")
    return description, expected


def parse_batch(agent: Agent, text: str, count: int) -> list[BaseModel | str]:
    """Per item: the validated output, or why that item's answer is unusable."""
    try:
        data = _json_of(text)
    except ValueError as exc:
        return [str(exc)] * count
    if not isinstance(data, list) or len(data) != count:
        return [f"expected a JSON array of {count} objects"] * count
    results: list[BaseModel | str] = []
    for item in data:
        try:
            results.append(_validated(agent, item))
        except ValueError as exc:
            results.append(str(exc))
    return results


def run_batch(name: str, items: list[tuple[dict, str]], *, allow_llm: bool = True) -> list[AgentResult]:
    """Runs of agent `name` for [(inputs, request_id), ...]: the ones not done before share one LLM
    call (batching of non-interactive work); each item is validated, applied and recorded on its own
    and falls back to the offline path on its own. The call's cost is split evenly over its items."""
    agent = get(name)
    if not 1 <= len(items) <= BATCH_MAX:
        raise PayloadError("invalid_batch", f"a batch holds 1..{BATCH_MAX} items")
    parsed = [(parse_inputs(agent, inputs), request_id) for inputs, request_id in items]
    started = time.perf_counter()
    results: dict[int, AgentResult] = {}
    pending = []
    for index, (_inputs, request_id) in enumerate(parsed):
        done = _stored(agent, request_id) if request_id else None
        if done is not None:
            results[index] = done
        else:
            pending.append(index)
    attempts = {i: _Attempt(reason="disabled") for i in pending}
    if pending and allow_llm:
        from aiworld.llm import chain

        if not chain.available():
            attempts = {i: _Attempt(reason="no_llm") for i in pending}
        else:
            raw, call = _kickoff(agent, *batch_prompt(agent, [parsed[i][0] for i in pending]))
            share = (call.cost / len(pending)).quantize(Decimal("0.000001")) if call.cost else Decimal("0")
            if raw is None:
                attempts = {i: _Attempt(reason=call.reason, error=call.error, cost=share) for i in pending}
            else:
                for i, outcome in zip(pending, parse_batch(agent, raw, len(pending)), strict=True):
                    attempts[i] = (_Attempt(output=outcome, cost=share) if isinstance(outcome, BaseModel) else
                                   _Attempt(reason=f"invalid_output: {outcome}"[:200], error=raw[:2000], cost=share))
    for i in pending:
        results[i] = _persist(agent, parsed[i][0], parsed[i][1], attempts[i], started)
    return [results[i] for i in range(len(parsed))]
