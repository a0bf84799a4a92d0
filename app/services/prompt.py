"""What DeepSeek is sent for a question: the system prompt, the knowledge base, the conversation, the question.

DeepSeek bills the part of a prompt that repeats, from its first byte, a prompt it saw
recently at the cache-hit price (its context cache works on prefixes). So what never
changes comes first and is sent byte for byte the same:

1. the fixed system prompt;
2. the whole knowledge base, when it fits KB_PROMPT_MAX_CHARS: one system message,
   rendered once per knowledge-base version, identical on every call until the knowledge
   base changes;
3. the conversation so far, which only grows from turn to turn;
4. only when the knowledge base is too large to send whole: the few entries most related
   to the question ("store facts"), which change with every question, so they come last;
5. the question.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.services.faq import FaqEntry, FaqMatch
from app.services.knowledge_base import KnowledgeSnapshot
from app.services.llm import Message

KNOWLEDGE_BASE_INTRO = (
    "The GreenGrocer FAQ, in full. It is GreenGrocer policy: when an entry answers the customer's "
    "question, follow it exactly and do not contradict it. Each entry is a question (Q) and its answer (A)."
)
STORE_FACTS_INTRO = (
    "Store facts from the GreenGrocer FAQ that may bear on the customer's next message. They are "
    "GreenGrocer policy: when they answer the question, follow them exactly and do not contradict them."
)
GROUNDING_FACTS = 3  # the few most related FAQ answers sent with a question when the whole FAQ is not


class PromptBuilder:
    """Build the messages of a DeepSeek call, keeping their start the same from call to call."""

    def __init__(self, system_prompt: str, knowledge_base_max_chars: int = 16000) -> None:
        self.system_prompt = system_prompt
        self.knowledge_base_max_chars = knowledge_base_max_chars
        self._rendered: tuple[KnowledgeSnapshot | None, str | None] = (None, None)

    def messages(self, knowledge: KnowledgeSnapshot, history: Sequence[Message], question: str) -> list[Message]:
        """Return the prompt for a question: system prompt, knowledge base or store facts, history, question."""
        messages: list[Message] = [{"role": "system", "content": self.system_prompt}]
        whole = self.knowledge_base_block(knowledge)
        if whole is not None:
            messages += [{"role": "system", "content": whole}, *history]
        else:
            messages += history
            facts = knowledge.index.related(question, limit=GROUNDING_FACTS)
            if facts:
                messages.append({"role": "system", "content": store_facts(facts)})
        messages.append({"role": "user", "content": question})
        return messages

    def knowledge_base_block(self, knowledge: KnowledgeSnapshot) -> str | None:
        """Return the whole knowledge base as one message, or None when it is longer than the limit.

        Rendered once per snapshot (a snapshot is one version of the knowledge base), so the
        very same string is sent until the knowledge base changes.
        """
        snapshot, block = self._rendered
        if snapshot is not knowledge:
            entries = knowledge.knowledge_base.entries
            block = render_knowledge_base(entries) if entries else None
            if block is not None and len(block) > self.knowledge_base_max_chars:
                block = None
            self._rendered = (knowledge, block)  # one tuple, swapped whole: safe for concurrent readers
        return block


def render_knowledge_base(entries: Sequence[FaqEntry]) -> str:
    """Write every entry, in the knowledge base's order, as its first phrasing and its answer."""
    return "\n\n".join([KNOWLEDGE_BASE_INTRO, *(f"Q: {entry.phrasings[0]}\nA: {entry.answer}" for entry in entries)])


def store_facts(matches: Sequence[FaqMatch]) -> str:
    """Write the related FAQ entries as store facts for the model, most related first."""
    lines = [f"- {match.entry.phrasings[0]} {match.entry.answer}" for match in matches]
    return "\n".join([STORE_FACTS_INTRO, *lines])
