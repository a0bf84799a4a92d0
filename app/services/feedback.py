"""Customers' feedback on answers: a thumbs up or down, with an optional comment, on a bot's or an agent's message.

Only the answers of the conversation named can be rated, by whoever may read that
conversation (its API key, as for reading it back). Rating again replaces the rating.
"""

from __future__ import annotations

import structlog

from app.errors import InvalidRequest, MessageNotFound
from app.services.chatbot_service import ChatbotService
from app.storage.feedback import RATED_ROLES, FeedbackStore, Rating

log = structlog.get_logger(__name__)

RATINGS = ("up", "down")
LONGEST_COMMENT = 1000


class FeedbackService:
    """Store, replace and remove customers' ratings of answers (transcripts read them through the handoff service)."""

    def __init__(self, chatbot: ChatbotService, store: FeedbackStore) -> None:
        self.chatbot = chatbot
        self.store = store

    def rate(self, conversation_id: str, message_id: int, owner: str | None, rating: str, comment: str | None) -> Rating:
        """Store or replace the customer's rating of an answer of their conversation."""
        self._rateable(conversation_id, message_id, owner)
        stored = self.store.rate(conversation_id, message_id, rating, comment)
        log.info("feedback_stored", conversation_id=conversation_id, message_id=message_id, rating=rating)
        return stored

    def withdraw(self, conversation_id: str, message_id: int, owner: str | None) -> None:
        """Remove the customer's rating of an answer of their conversation (nothing to remove is fine)."""
        self._rateable(conversation_id, message_id, owner)
        self.store.remove(message_id)
        log.info("feedback_removed", conversation_id=conversation_id, message_id=message_id)

    def _rateable(self, conversation_id: str, message_id: int, owner: str | None) -> None:
        """Check that the message is an answer of a conversation `owner` may see; raise the error that says why not."""
        conversation = self.chatbot.conversation(conversation_id, owner)
        message = self.store.message(conversation.id, message_id)
        if message is None:
            raise MessageNotFound("There is no message with that id in this conversation.")
        if message.role not in RATED_ROLES:
            raise InvalidRequest("Only answers (the assistant's or an agent's messages) can be rated.")
