"""The `hand_off_to_human` function tool, offered on every DeepSeek call, and how its call is read.

The decision to hand off is read from this structured call only, never from the model's
text: a model that merely writes "let me pass you to a colleague" does not hand off.
"""

from __future__ import annotations

from app.services.llm import Completion, Tool

HAND_OFF = "hand_off_to_human"
HAND_OFF_TOOL: Tool = {
    "type": "function",
    "function": {
        "name": HAND_OFF,
        "description": (
            "Pass the conversation to a person from the GreenGrocer support team. Call it when the customer "
            "asks for a person, or when only a person can help: a complaint, a refund or compensation request, "
            "an order problem you cannot see, anything you must not decide."
        ),
        "parameters": {
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why, in a few words, for the agent."}},
            "required": ["reason"],
        },
    },
}
TOOLS = [HAND_OFF_TOOL]


def requested_handoff(completion: Completion) -> tuple[bool, str | None]:
    """Return whether the model called hand_off_to_human, and the reason it gave (None if not a string)."""
    for call in completion.tool_calls:
        if call.name == HAND_OFF:
            reason = call.arguments.get("reason")
            return True, reason if isinstance(reason, str) else None
    return False, None
