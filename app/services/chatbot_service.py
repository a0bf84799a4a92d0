"""The chat logic: FAQs first, then DeepSeek. Knows nothing of HTTP or Flask's request."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from app.errors import LLMNotConfigured
from app.services.faq import FaqIndex
from app.services.llm import LLMClient, Message, Usage

log = structlog.get_logger(__name__)

SYSTEM_PROMPT = (
    "You are a friendly, professional customer support agent for GreenGrocer Foods, an online grocery "
    "store that delivers fresh produce and groceries. Help customers with orders, deliveries, products, "
    "payments, returns and their accounts. Give every time in Eastern Time (EST). Keep each answer under "
    "500 characters. Never invent order details, prices or policies you do not know; when you cannot "
    "help, suggest contacting GreenGrocer customer support."
)


@dataclass(frozen=True)
class Answer:
    """The reply to one customer message."""

    content: str
    source: str  # "faq" or "llm"
    model: str | None
    usage: Usage | None = None


class ChatbotService:
    """Answer customer questions from the FAQ when it knows them, otherwise from the language model."""

    def __init__(self, faq: FaqIndex, llm: LLMClient | None, system_prompt: str = SYSTEM_PROMPT) -> None:
        self.faq = faq
        self.llm = llm
        self.system_prompt = system_prompt

    def answer(self, message: str) -> Answer:
        """Return the answer to a customer's message; raise an UpstreamFailure when none can be had."""
        match = self.faq.match(message)
        if match is not None:
            log.info("faq_hit", faq_id=match.entry.id, score=match.score)
            return Answer(content=match.entry.answer, source="faq", model=None)
        if self.llm is None:
            raise LLMNotConfigured()
        completion = self.llm.complete(self.prompt(message))
        return Answer(content=completion.content, source="llm", model=completion.model, usage=completion.usage)

    def prompt(self, message: str) -> list[Message]:
        """Return the messages sent to the model for a customer's message."""
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": message},
        ]
