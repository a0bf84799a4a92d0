"""The chat logic: FAQs first, then DeepSeek grounded in the related FAQs, then the FAQ again
when DeepSeek cannot answer. Knows nothing of HTTP or Flask's request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from app.errors import LLMNotConfigured, UpstreamFailure
from app.services.faq import FaqIndex, FaqMatch
from app.services.llm import LLMClient, Message, Usage

log = structlog.get_logger(__name__)

SYSTEM_PROMPT = (
    "You are a friendly, professional customer support agent for GreenGrocer Foods, an online grocery "
    "store that delivers fresh produce and groceries. Help customers with orders, deliveries, products, "
    "payments, returns and their accounts. Give every time in Eastern Time (EST). Keep each answer under "
    "500 characters. Never invent order details, prices or policies you do not know; when you cannot "
    "help, suggest contacting GreenGrocer customer support."
)
STORE_FACTS_INTRO = (
    "Store facts from the GreenGrocer FAQ that may bear on the customer's next message. They are "
    "GreenGrocer policy: when they answer the question, follow them exactly and do not contradict them."
)
GROUNDING_FACTS = 3  # the few most related FAQ answers sent with a question


@dataclass(frozen=True)
class Answer:
    """The reply to one customer message."""

    content: str
    source: str  # "faq", "llm" or "faq_fallback"
    model: str | None
    usage: Usage | None = None


class ChatbotService:
    """Answer from the FAQ when it knows the question, otherwise from the language model."""

    def __init__(
        self,
        faq: FaqIndex,
        llm: LLMClient | None,
        system_prompt: str = SYSTEM_PROMPT,
        support_contact: str = "",
    ) -> None:
        self.faq = faq
        self.llm = llm
        self.system_prompt = system_prompt
        self.support_contact = support_contact

    def answer(self, message: str) -> Answer:
        """Return the answer to a customer's message; raise an UpstreamFailure when none can be had."""
        match = self.faq.match(message)
        if match is not None:
            log.info("faq_hit", faq_id=match.entry.id, score=match.score)
            return Answer(content=match.entry.answer, source="faq", model=None)
        try:
            if self.llm is None:
                raise LLMNotConfigured()
            completion = self.llm.complete(self.prompt(message))
        except UpstreamFailure as error:
            return self.fallback(message, error)
        return Answer(content=completion.content, source="llm", model=completion.model, usage=completion.usage)

    def fallback(self, message: str, error: UpstreamFailure) -> Answer:
        """Answer with the closest FAQ and the support contact when the model failed; else raise its error."""
        match = self.faq.fallback(message)
        if match is None:
            raise error
        log.warning("faq_fallback", faq_id=match.entry.id, score=match.score, error_code=error.code)
        contact = f" For anything else, please contact GreenGrocer customer support: {self.support_contact}."
        return Answer(
            content=match.entry.answer + (contact if self.support_contact else ""), source="faq_fallback", model=None
        )

    def prompt(self, message: str) -> list[Message]:
        """Return the messages sent to the model for a customer's message.

        The fixed system prompt comes first and never changes, so DeepSeek's prompt cache
        keeps hitting on it; stored conversation history belongs right after it. The store
        facts, which change with each question, come last, just before the question.
        """
        messages: list[Message] = [{"role": "system", "content": self.system_prompt}]
        facts = self.faq.related(message, limit=GROUNDING_FACTS)
        if facts:
            messages.append({"role": "system", "content": store_facts(facts)})
        messages.append({"role": "user", "content": message})
        return messages


def store_facts(matches: Sequence[FaqMatch]) -> str:
    """Write the related FAQ entries as store facts for the model, most related first."""
    lines = [f"- {match.entry.phrasings[0]} {match.entry.answer}" for match in matches]
    return "\n".join([STORE_FACTS_INTRO, *lines])
