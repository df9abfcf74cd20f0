"""The OpenAI SDK's response models are built when aiworld.llm.attempt is imported, before any thread parses a
reply (the SDK builds them lazily, and that build races between threads: aiworld/llm/sdk_models.py)."""

import subprocess
import sys

from aiworld.env import PROJECT_ROOT

LEFT_TO_BUILD = "from aiworld.llm import sdk_models; print(len(sdk_models.build_chat_models()))"


def _left_to_build(imports: str) -> int:
    """Models still unbuilt in a fresh interpreter after `imports` (this process has built them long ago)."""
    out = subprocess.run([sys.executable, "-c", f"{imports}; {LEFT_TO_BUILD}"], cwd=PROJECT_ROOT, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return int(out.strip().splitlines()[-1])


def test_importing_the_attempt_module_builds_every_chat_model():
    assert _left_to_build("import openai") > 0  # the SDK defers them: without the warm-up threads would race
    assert _left_to_build("import aiworld.llm.attempt") == 0


def test_nested_models_are_built_too():
    """Named here, not found by the walker under test: a reply's message, its usage, a streamed delta."""
    check = ("import aiworld.llm.attempt; "
             "from openai.types.chat.chat_completion_message import ChatCompletionMessage as A; "
             "from openai.types.completion_usage import CompletionUsage as B; "
             "from openai.types.chat.chat_completion_chunk import ChoiceDelta as C; "
             "print([m.__name__ for m in (A, B, C) if not m.__pydantic_complete__])")
    out = subprocess.run([sys.executable, "-c", check], cwd=PROJECT_ROOT, check=True, capture_output=True, text=True,
                         timeout=120).stdout
    assert out.strip().splitlines()[-1] == "[]"
