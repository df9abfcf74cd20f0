"""Build the OpenAI SDK's response models once, in the importing thread.

The SDK defers building its pydantic models to their first use, and pydantic's lazy build is not
thread safe: while one thread rebuilds a model, the class briefly falls back to BaseModel's own
placeholder, and another thread parsing a reply at that moment fails with "BaseModel cannot be
instantiated directly". Threaded callers (a thread pool of NPC lines, a threaded worker pool) then lose
their first calls. Building every model a chat reply can contain before any thread calls removes the race.
"""

from __future__ import annotations

import logging
import typing

from pydantic import BaseModel

log = logging.getLogger("aiworld.llm.sdk_models")


def _models_in(annotation: object) -> typing.Iterator[type[BaseModel]]:
    """The pydantic model classes an annotation names (through Optional, List, Union, Annotated...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def build(*roots: type[BaseModel]) -> list[type[BaseModel]]:
    """Build `roots` and every model reachable through their fields; returns the ones that were not built."""
    built: list[type[BaseModel]] = []
    seen: set[type[BaseModel]] = set()
    pending = list(roots)
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        if not model.__pydantic_complete__:
            model.model_rebuild()
            built.append(model)
        for field in model.model_fields.values():
            pending.extend(_models_in(field.annotation))
    return built


def build_chat_models() -> list[type[BaseModel]]:
    """The models of chat completions, streamed or not (all this package reads)."""
    import openai.resources.chat  # noqa: F401  (what `client.chat` imports on first use builds a few more)
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    built = build(ChatCompletion, ChatCompletionChunk)
    log.debug("built %d OpenAI SDK response models", len(built))
    return built
