"""The chat logic: conversations, FAQs first, then DeepSeek grounded in the FAQ, then
the FAQ again when DeepSeek cannot answer. Knows nothing of HTTP or Flask's request.

Each question is stored before DeepSeek is called, so a failed call loses nothing; the
answer is stored with its source, model and token usage; a failure is recorded on the
question with its error code. DeepSeek is stateless, so every call resends the system
prompt and as much of the conversation as fits the history limits (messages, and an
estimate of tokens). Card numbers are masked before anything is stored or sent. The
daily token budget, when there is one, is checked before each DeepSeek call and charged
after it. Conversations started with an API key are visible to that key only.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from app.errors import (
    APIError,
    BudgetExhausted,
    ConversationFull,
    ConversationNotFound,
    LLMNotConfigured,
    UpstreamError,
    UpstreamFailure,
)
from app.metrics import ANSWERS, DEEPSEEK_BUDGET_EXHAUSTED
from app.services.faq import FaqIndex
from app.services.handoff import HandoffService
from app.services.handoff_intent import asks_for_person
from app.services.handoff_tool import TOOLS, requested_handoff
from app.services.knowledge_base import KnowledgeBaseService
from app.services.llm import Completion, LLMClient, Message, Usage
from app.services.prompt import PromptBuilder
from app.services.token_budget import DailyTokenBudget
from app.services.tokens import estimate_message_tokens, estimate_tokens
from app.storage.conversations import ConversationStore, MessagePage, MessageWindow, message_row
from app.storage.handoffs import HELD
from app.storage.models import Conversation
from app.utils.privacy import mask_card_numbers
from app.utils.streams import with_heartbeats

log = structlog.get_logger(__name__)

# The fixed part of every prompt, sent first and byte for byte the same on every call, so
# DeepSeek's prefix cache keeps hitting on it; anything that varies comes after it.
SYSTEM_PROMPT = (
    "You are a friendly, professional customer support agent for GreenGrocer Foods, an online grocery "
    "store that delivers fresh produce and groceries. Help customers with orders, deliveries, products, "
    "payments, returns and their accounts. Give every time in Eastern Time (EST). Keep each answer under "
    "500 characters. Never invent order details, prices or policies you do not know; when you cannot "
    "help, suggest contacting GreenGrocer customer support.\n"
    "Rules you always follow:\n"
    "- Help only with GreenGrocer customer support. If asked for anything else (other companies, general "
    "knowledge, writing, code, opinions), politely say that you can only help with GreenGrocer orders, "
    "deliveries, products and accounts.\n"
    "- Never promise a refund, credit, discount or any other compensation, and never say one has been "
    "granted. You may explain how to request one: through customer support, who decide.\n"
    "- Never ask for a card number, security code, password or one-time code, and tell customers not to "
    "share them in this chat. Payment details are only entered on the GreenGrocer website or app."
)


@dataclass(frozen=True)
class Answer:
    """The reply to one customer message."""

    content: str
    source: str  # "faq", "llm", "faq_fallback" or "handoff"
    model: str | None
    usage: Usage | None = None
    faq_id: str | None = None  # the FAQ entry that answered (faq, faq_fallback), and its score
    faq_score: float | None = None
    trigger: str | None = None  # a handoff's trigger (customer_words, model) and reason
    reason: str | None = None


@dataclass(frozen=True)
class HistoryLimits:
    """How much of a conversation is resent to the model: messages and estimated tokens, newest turns kept."""

    max_messages: int = 20
    max_tokens: int = 4000


@dataclass
class Turn:
    """One question in a conversation, stored and waiting for its answer, with the history before it."""

    conversation_id: str
    question_id: int
    message: str
    history: list[Message] = field(default_factory=list)
    response_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: str = "bot"  # the conversation's state: after the answer, once answered
    agent: str | None = None  # the agent holding it, when one does
    answer_id: int | None = None  # the stored answer's message id, once stored
    ready: Answer | None = None  # the answer that needs no model (the FAQ's, a handoff asked for), if any

    @property
    def held(self) -> bool:
        """Return whether a person has (or will have) the conversation: the question is stored, not answered."""
        return self.state in HELD


class ChatbotService:
    """Answer from the FAQ when it knows the question, otherwise from the language model."""

    def __init__(
        self,
        knowledge: KnowledgeBaseService,
        llm: LLMClient | None,
        store: ConversationStore,
        *,
        history: HistoryLimits = HistoryLimits(),
        heartbeat_seconds: float = 15.0,
        system_prompt: str = SYSTEM_PROMPT,
        support_contact: str = "",
        max_turns: int = 100,
        budget: DailyTokenBudget | None = None,
        knowledge_base_prompt_max_chars: int = 16000,
        handoff: HandoffService | None = None,
        handoff_after_failures: int = 2,
    ) -> None:
        self.knowledge = knowledge
        self.prompts = PromptBuilder(system_prompt, knowledge_base_prompt_max_chars)
        self.llm = llm
        self.store = store
        self.history = history
        self.heartbeat_seconds = heartbeat_seconds
        self.support_contact = support_contact
        self.max_turns = max_turns
        self.budget = budget
        self.handoff = handoff
        self.handoff_after_failures = handoff_after_failures

    @property
    def faq(self) -> FaqIndex:
        """The FAQ index of the knowledge base as it is now (kept in step with the database)."""
        return self.knowledge.current().index

    def begin(self, message: str, conversation_id: str | None = None, owner: str | None = None) -> Turn:
        """Store the question, in its conversation (a new one, owned by `owner`, without an id), and return the turn.

        The history is read here, before the question is committed, so no database
        connection is held while the model answers. Card numbers are masked first: a
        full one is never stored, nor sent to DeepSeek.
        """
        message = mask_card_numbers(message)
        ready = self._first_answer(message)
        if conversation_id is None:
            return self._store_question(Turn("", 0, message, ready=ready), owner)
        history_messages = self.history.max_messages if ready is None else 0  # the model's turns only
        summary = self.store.summary(conversation_id, history_messages) if is_conversation_id(conversation_id) else None
        if summary is None or not may_access(summary.owner_key_id, owner):
            raise ConversationNotFound()  # unknown, malformed or another key's: 404, never a new conversation
        if summary.questions >= self.max_turns:
            raise ConversationFull()  # refused before anything is stored
        if self.handoff is not None and summary.state != "bot":
            stored = self.handoff.customer_message(conversation_id, message) if summary.state in HELD else None
            if stored is not None:  # a person answers: the message is stored, the bot says nothing
                question_id, held = stored
                return Turn(conversation_id, question_id, message, state=held.state, agent=held.agent)
            self.handoff.reopen(conversation_id)  # closed (perhaps just now): the bot has it again
        turn = Turn(conversation_id, 0, message, self.fitting_history(summary.turns), ready=ready)
        return self._store_question(turn, owner)

    def _store_question(self, turn: Turn, owner: str | None) -> Turn:
        """Store a turn's question (in a new conversation without an id); an FAQ answer is stored with it.

        The FAQ was matched first: its answer needs no model, so the question and the answer
        are written together (one statement on PostgreSQL).
        """
        rows = [message_row("user", turn.message)]
        if turn.ready is not None and turn.ready.source == "faq":
            log.info("faq_hit", faq_id=turn.ready.faq_id, score=turn.ready.faq_score)
            rows.append(self.answer_row(turn, turn.ready))
        turn.conversation_id, ids = self.store.append(turn.conversation_id or None, rows, owner)
        turn.question_id = ids[0]
        if len(ids) > 1:
            turn.answer_id = ids[1]
            ANSWERS.labels("faq").inc()
        elif turn.ready is not None:
            log.info("handoff_asked_in_words", conversation_id=turn.conversation_id)
        return turn

    def fitting_history(self, turns: Sequence[tuple[Any, Any]]) -> list[Message]:
        """Return the newest of these complete turns that fit the history limits, as messages for the model."""
        newest_first: list[Message] = []
        budget = self.history.max_tokens
        for question, answer in reversed(turns):
            budget -= estimate_message_tokens(question.content) + estimate_message_tokens(answer.content)
            if budget < 0:
                break
            newest_first += [  # masked again: rows stored before masking may hold a card number
                {"role": "assistant", "content": mask_card_numbers(answer.content)},
                {"role": "user", "content": mask_card_numbers(question.content)},
            ]
        return newest_first[::-1]

    def answer(self, turn: Turn) -> Answer:
        """Answer a stored question, store the answer; on failure record it and raise.

        When DeepSeek cannot answer (or is not configured), the closest FAQ answers
        instead (`faq_fallback`); only without one does the failure stand.
        """
        try:
            answer = turn.ready
            if answer is None:
                try:
                    answer = self._llm_answer(turn)
                except UpstreamFailure as error:
                    answer = self.fallback(turn.message, error)
        except Exception as error:
            self.fail(turn, as_api_error(error))
            raise
        return self.finish_answer(turn, answer)

    def finish_answer(self, turn: Turn, answer: Answer) -> Answer:
        """Store an answer (unless stored with its question); a handoff hands the conversation to the team."""
        if turn.answer_id is not None:
            return answer
        if answer.source != "handoff" or self.handoff is None:
            turn.answer_id = self.save_answer(turn, answer)
            return answer
        usage = answer.usage
        reply = self.handoff.request(
            turn.conversation_id, answer.trigger or "model", answer.reason, model=answer.model,
            response_id=turn.response_id,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            cache_hit_tokens=usage.cache_hit_tokens if usage else None,
        )
        ANSWERS.labels("handoff").inc()
        turn.state, turn.answer_id = reply.state, reply.message_id
        return Answer(content=reply.content, source="handoff", model=answer.model, usage=usage,
                      trigger=answer.trigger, reason=answer.reason)

    def _first_answer(self, message: str) -> Answer | None:
        """Return the answer that needs no model: a handoff asked for in words, or the FAQ's; else None."""
        if self.handoff is not None and asks_for_person(message):
            return Answer(content="", source="handoff", model=None, trigger="customer_words")
        return self._faq_answer(message)

    def stream(self, turn: Turn) -> AnswerStream:
        """Return the answer to a stored question as a stream of text pieces.

        Without a model, or with today's token budget spent, the FAQ fallback streams as
        one piece, or LLMNotConfigured / BudgetExhausted is raised at once, before any
        byte is streamed.
        """
        ready = turn.ready
        unavailable = self._llm_unavailable() if ready is None else None
        if unavailable is not None:
            try:
                ready = self.fallback(turn.message, unavailable)
            except UpstreamFailure as error:
                self.fail(turn, error)
                raise
        return AnswerStream(self, turn, ready)

    def fallback(self, message: str, error: UpstreamFailure) -> Answer:
        """Answer with the closest FAQ and the support contact when the model failed; else raise its error."""
        match = self.faq.fallback(message)
        if match is None:
            raise error
        log.warning("faq_fallback", faq_id=match.entry.id, score=match.score, error_code=error.code)
        contact = f" For anything else, please contact GreenGrocer customer support: {self.support_contact}."
        return Answer(
            content=match.entry.answer + (contact if self.support_contact else ""),
            source="faq_fallback",
            model=None,
            faq_id=match.entry.id,
            faq_score=match.score,
        )

    def conversation(self, conversation_id: str, owner: str | None = None) -> Conversation:
        """Return a conversation `owner` may see; a malformed, unknown or another key's id is ConversationNotFound."""
        conversation = self.store.get(conversation_id) if is_conversation_id(conversation_id) else None
        if conversation is None or not may_access(conversation.owner_key_id, owner):
            raise ConversationNotFound()
        return conversation

    def transcript(
        self, conversation_id: str, owner: str | None = None, window: MessageWindow = MessageWindow()
    ) -> tuple[Conversation, MessagePage]:
        """Return a conversation and a page of its messages; ConversationNotFound as `conversation()`."""
        conversation = self.conversation(conversation_id, owner)
        return conversation, self.store.page(conversation.id, window)

    def forget(self, conversation_id: str, owner: str | None = None) -> None:
        """Delete a conversation `owner` may see, and every trace of it; ConversationNotFound as `conversation()`."""
        self.conversation(conversation_id, owner)
        self.store.delete(conversation_id)  # gone either way, should another request have deleted it meanwhile
        log.info("conversation_deleted", conversation_id=conversation_id)

    def prompt(self, turn: Turn) -> list[Message]:
        """Return what the model is sent: system prompt, the knowledge base (or store facts), history, question.

        app/services/prompt.py orders it so that the start repeats from call to call, for
        DeepSeek's prompt cache (cache hits are billed lower).
        """
        return self.prompts.messages(self.knowledge.current(), turn.history, turn.message)

    def fail(self, turn: Turn, error: APIError, partial: str = "") -> None:
        """Record that a question's answer failed; keep what was written of it, marked interrupted.

        After HANDOFF_AFTER_FAILURES failed turns in a row, the error offers a person
        (`"handoff_available": true` in its body).
        """
        self.keep_interrupted(turn, partial)
        self.store.mark_failed(turn.question_id, error.code)
        handoff = self.handoff
        if handoff is not None and handoff.failures_in_a_row(turn.conversation_id, self.handoff_after_failures):
            error.extra["handoff_available"] = True

    def keep_interrupted(self, turn: Turn, partial: str) -> None:
        """Store the part of a model answer that was written before it was cut short, if any."""
        if partial:
            self.save_answer(turn, Answer(partial, "llm", self.llm.model if self.llm else None), interrupted=True)

    def _faq_answer(self, message: str) -> Answer | None:
        match = self.faq.match(message)
        if match is None:
            return None
        return Answer(content=match.entry.answer, source="faq", model=None, faq_id=match.entry.id, faq_score=match.score)

    def charge(self, tokens: int) -> None:
        """Charge tokens DeepSeek billed (or, for an answer cut short, an estimate) to today's budget."""
        if self.budget is not None:
            self.budget.spend(tokens)

    def _llm_unavailable(self) -> UpstreamFailure | None:
        """Return why DeepSeek may not be asked now (not configured, or today's tokens spent), or None."""
        if self.llm is None:
            return LLMNotConfigured()
        if self.budget is None:
            return None
        spent = self.budget.spent()
        if spent < self.budget.limit:
            return None
        DEEPSEEK_BUDGET_EXHAUSTED.inc()
        log.warning("deepseek_budget_exhausted", budget=self.budget.limit, spent=spent)
        return BudgetExhausted(retry_after=self.budget.seconds_until_reset())

    def _llm_answer(self, turn: Turn) -> Answer:
        unavailable = self._llm_unavailable()
        if unavailable is not None:
            raise unavailable
        assert self.llm is not None  # or it would be unavailable
        completion = self.llm.complete(self.prompt(turn), tools=TOOLS)
        self.charge(billed_tokens(completion.usage))
        return model_answer(completion)

    def save_answer(self, turn: Turn, answer: Answer, *, interrupted: bool = False) -> int:
        """Store an answer with its source, model and token usage; count it unless it was cut short."""
        if not interrupted:
            ANSWERS.labels(answer.source).inc()
        return self.store.append(turn.conversation_id, [self.answer_row(turn, answer, interrupted=interrupted)])[1][0]

    @staticmethod
    def answer_row(turn: Turn, answer: Answer, *, interrupted: bool = False) -> dict[str, object]:
        """Return an answer's row to store: its text masked, its source, model and token usage."""
        usage = answer.usage
        return message_row(
            "assistant",
            mask_card_numbers(answer.content),  # a streamed answer was not masked on its way out
            source=answer.source,
            model=answer.model,
            response_id=turn.response_id,
            interrupted=interrupted,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            cache_hit_tokens=usage.cache_hit_tokens if usage else None,
            faq_id=answer.faq_id,
            faq_score=answer.faq_score,
        )


class AnswerStream:
    """An answer being written: iterate for text pieces (None while waiting), then read `answer`.

    FAQ answers come as one piece. Model answers come as DeepSeek writes them; closing
    the stream early (the client left) cancels the upstream request and keeps what was
    written, marked interrupted. A failure is recorded on the question and raised.
    """

    def __init__(self, service: ChatbotService, turn: Turn, faq_answer: Answer | None) -> None:
        self.turn = turn
        self.answer: Answer | None = faq_answer
        self._service = service
        self._pieces = self._generate()

    def __iter__(self) -> Iterator[str | None]:
        return self._pieces

    def close(self) -> None:
        """Stop early: cancel the upstream request and store what was written so far."""
        self._pieces.close()

    def _generate(self) -> Iterator[str | None]:
        if self.answer is None:
            self.answer = yield from self._model_answer()
        if self.answer.source not in ("llm", "handoff"):  # an FAQ answer, or the fallback: one piece, not yet sent
            yield self.answer.content
        self.answer = self._service.finish_answer(self.turn, self.answer)

    def _model_answer(self) -> Generator[str | None, None, Answer]:
        """Yield the model's pieces as they come; return its answer, or the FAQ fallback if it failed before writing."""
        service, turn = self._service, self.turn
        assert service.llm is not None  # checked by ChatbotService.stream
        prompt = service.prompt(turn)
        upstream = service.llm.stream(prompt, tools=TOOLS)
        try:
            yield from with_heartbeats(upstream, service.heartbeat_seconds)
        except UpstreamFailure as error:
            if upstream.received:  # cut short: DeepSeek billed what it wrote, and did not say how much
                service.charge(estimated_tokens(prompt, upstream.received))
            else:  # the customer has seen nothing yet: the FAQ may still answer
                try:
                    return service.fallback(turn.message, error)
                except UpstreamFailure:
                    pass
            service.fail(turn, error, "".join(upstream.received))
            raise
        except Exception as error:
            service.fail(turn, as_api_error(error), "".join(upstream.received))
            raise
        except GeneratorExit:
            upstream.cancel()
            service.charge(estimated_tokens(prompt, upstream.received))
            written = "".join(upstream.received)
            log.info("chat_stream_abandoned", conversation_id=turn.conversation_id, chars_written=len(written))
            service.keep_interrupted(turn, written)
            raise
        completion = upstream.completion
        assert completion is not None  # a stream that ends normally has its completion
        service.charge(billed_tokens(completion.usage))
        return model_answer(completion)


def model_answer(completion: Completion) -> Answer:
    """Return the model's answer: a handoff when it called hand_off_to_human (its text is then not kept)."""
    called, reason = requested_handoff(completion)
    if called:
        log.info("handoff_by_model", model=completion.model)
        return Answer("", "handoff", completion.model, completion.usage, trigger="model", reason=reason)
    if not completion.content:  # only calls of tools we never offered
        log.warning("llm_bad_response", reason="unknown_tool", tools=[call.name for call in completion.tool_calls])
        raise UpstreamError()
    return Answer(mask_card_numbers(completion.content), "llm", completion.model, completion.usage)


def billed_tokens(usage: Usage | None) -> int:
    """Return the tokens DeepSeek billed for a call: its prompt and completion tokens."""
    return usage.prompt_tokens + usage.completion_tokens if usage is not None else 0


def estimated_tokens(prompt: Sequence[Message], written: Sequence[str]) -> int:
    """Estimate the tokens of a call DeepSeek did not report on: the prompt and what it wrote."""
    return sum(estimate_message_tokens(message["content"]) for message in prompt) + estimate_tokens("".join(written))


def as_api_error(error: Exception) -> APIError:
    """Return the error as recorded on a failed question: ours as it is, anything else INTERNAL_ERROR."""
    return error if isinstance(error, APIError) else APIError()


def may_access(owner_key_id: str | None, key_id: str | None) -> bool:
    """Return whether a client with that API key id may use a conversation: its owner's, or one without owner."""
    return owner_key_id is None or owner_key_id == key_id


def is_conversation_id(value: str) -> bool:
    """Return whether a value is a conversation id as we issue them: a canonical UUID4 string."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return parsed.version == 4 and str(parsed) == value.lower()
