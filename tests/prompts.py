"""What every DeepSeek call of the shipped app starts with: the fixed system prompt, then the whole FAQ."""

from __future__ import annotations

from typing import Any

from app.services.chatbot_service import SYSTEM_PROMPT
from app.services.prompt import render_knowledge_base
from tests.support import shipped_knowledge_base

SYSTEM_MESSAGE = {"role": "system", "content": SYSTEM_PROMPT}
SHIPPED_KNOWLEDGE_BASE = {"role": "system", "content": render_knowledge_base(shipped_knowledge_base().entries)}
FIXED_PREFIX = [SYSTEM_MESSAGE, SHIPPED_KNOWLEDGE_BASE]


def conversation(messages: list[dict[str, Any]]) -> list[str]:
    """Return the contents sent after the fixed prefix (the history and the question); fail if the prefix differs."""
    assert messages[: len(FIXED_PREFIX)] == FIXED_PREFIX
    return [message["content"] for message in messages[len(FIXED_PREFIX):]]
