"""Handoff to a person: the conversation's state, who holds it, and what the customer, agents and helpdesk hear.

States: `bot` (default) -> `waiting` (handed off) -> `agent` (claimed) -> `closed`; release
goes back to `waiting`; a customer message in a closed conversation reopens it (`bot`).
Every change is a conditional UPDATE (app/storage/handoffs.py) whose rowcount decides,
so two claims never both win, on any number of instances. In the same transaction it
writes one `event` message row and the helpdesk's webhook event; after the commit it
publishes live events (the conversation's channel for the customer, `staff` for the
consoles), logs one `conversation_state_changed` line and updates the metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from app import metrics
from app.errors import AlreadyClaimed, ConversationNotFound, NotAssigned, UpstreamFailure
from app.services.live_events import LiveEvents
from app.services.staff_accounts import StaffMember
from app.services.support_hours import SupportHours
from app.services.webhooks import HelpdeskWebhooks
from app.storage.feedback import RATED_ROLES
from app.storage.handoffs import HELD, Change, ConversationState, HandoffStore
from app.storage.models import utcnow
from app.utils.privacy import mask_card_numbers
from app.utils.timestamps import iso

log = structlog.get_logger(__name__)

STAFF_CHANNEL = "staff"
TRANSCRIPT_ROLES = ("user", "assistant", "agent")
QUEUE_LIMIT = 200
UPSTREAM_CODES = frozenset(kind.code for kind in UpstreamFailure.__subclasses__())  # the model failed, no fallback


def conversation_channel(conversation_id: str) -> str:
    """Return the live-events channel a conversation's customer stream listens on."""
    return f"conversation:{conversation_id}"


@dataclass(frozen=True)
class HandoffReply:
    """What the customer is told of a handoff: the message, its id, and the state after it."""

    state: str
    message_id: int | None
    content: str
    started: bool  # False: it was waiting or held already (nothing changed)


@dataclass(frozen=True)
class StaffView:
    """A conversation as an agent sees it: state, the latest handoff's trigger and reason, messages, feedback."""

    state: ConversationState
    trigger: str | None
    reason: str | None
    messages: list[Any]
    feedback: dict[int, dict[str, Any]]


class HandoffService:
    """Move conversations between the bot and the support team, and tell everyone who needs to know."""

    def __init__(
        self,
        store: HandoffStore,
        webhooks: HelpdeskWebhooks,
        hub: LiveEvents,
        hours: SupportHours,
        support_contact: str = "",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.webhooks = webhooks
        self.hub = hub
        self.hours = hours
        self.support_contact = support_contact
        self.clock = clock

    def state(self, conversation_id: str) -> ConversationState:
        """Return a conversation's state; ConversationNotFound when there is none."""
        found = self.store.state(conversation_id)
        if found is None:
            raise ConversationNotFound()
        return found

    def handoff_message(self) -> str:
        """Return what the customer is told at a handoff: a person will reply, and when, outside SUPPORT_HOURS."""
        now = self.clock()
        if self.hours.is_open(now):
            return (
                "I'm passing you to a member of our support team. "
                "A person will reply here shortly; please stay in this chat."
            )
        back = self.hours.next_opening(now)
        when = f" on {back:%A} at {back:%H:%M} ({self.hours.zone.key})" if back is not None else ""
        contact = f" You can also reach them at {self.support_contact}." if self.support_contact else ""
        return (
            "I'm passing you to our support team. They are away right now and back"
            f"{when}; a person will reply here then.{contact}"
        )

    def request(
        self, conversation_id: str, trigger: str, reason: str | None = None, **answer: Any
    ) -> HandoffReply:
        """Hand a conversation to the team (from bot or closed); idempotent while it waits or is held.

        `answer` holds the handoff message's model and token columns when the model decided.
        """
        now, reason = self.clock(), (mask_card_numbers(reason)[:1000] if reason else None)
        content = self.handoff_message()
        change = Change("handoff", ("bot", "closed"), "waiting", {"waiting_since": now, "agent_id": None})
        event_id = self.store.change(conversation_id, change, now, trigger=trigger, detail=reason)
        if event_id is None:
            self.store.rollback()
            current = self.state(conversation_id)
            latest = self.store.latest_handoff_message(conversation_id)
            self.store.rollback()
            return HandoffReply(current.state, latest.id if latest else None,
                                latest.content if latest else content, started=False)
        message_id = self.store.insert(conversation_id, "assistant", content, now, source="handoff",
                                       response_id=answer.pop("response_id", None), **answer)
        transcript = [webhook_message(row.id, row.role, row.content, row.created_at, row.author)
                      for row in self.store.messages_after(conversation_id, 0, TRANSCRIPT_ROLES)]
        self.webhooks.enqueue(self.store.connection, "handoff.requested", conversation_id,
                              {"trigger": trigger, "reason": reason, "transcript": transcript})
        self.finish(conversation_id, "handoff", "waiting", event_id, trigger=trigger)
        metrics.HANDOFFS.labels(trigger).inc()
        return HandoffReply("waiting", message_id, content, started=True)

    def reopen(self, conversation_id: str) -> None:
        """Give a closed conversation back to the bot (a customer wrote again); nothing if it is not closed."""
        change = Change("reopened", ("closed",), "bot", {"agent_id": None, "waiting_since": None})
        event_id = self.store.change(conversation_id, change, self.clock())
        if event_id is None:
            self.store.rollback()
            return
        self.finish(conversation_id, "reopened", "bot", event_id)

    def claim(self, conversation_id: str, staff: StaffMember) -> ConversationState:
        """Take a waiting conversation; the caller's already: fine; anyone else's or not waiting: AlreadyClaimed."""
        before = self.state(conversation_id)
        now = self.clock()
        change = Change("claimed", ("waiting",), "agent", {"agent_id": staff.id})
        event_id = self.store.change(conversation_id, change, now, author=staff.name, staff_id=staff.id)
        if event_id is None:
            self.store.rollback()
            current = self.state(conversation_id)
            self.store.rollback()
            if current.state == "agent" and current.agent_id == staff.id:
                return current
            raise AlreadyClaimed()
        self.finish(conversation_id, "claimed", "agent", event_id, staff=staff)
        if before.waiting_since is not None:
            metrics.HANDOFF_CLAIM_SECONDS.observe(max((now - before.waiting_since).total_seconds(), 0.0))
        return ConversationState(conversation_id, "agent", staff.id, staff.name, before.waiting_since,
                                 before.owner_key_id)

    def release(self, conversation_id: str, staff: StaffMember) -> None:
        """Give a held conversation back to the queue (it keeps its place: waiting_since stays)."""
        self.state(conversation_id)
        change = Change("released", ("agent",), "waiting", {"agent_id": None}, held_by=staff.id)
        event_id = self.store.change(conversation_id, change, self.clock(), author=staff.name, staff_id=staff.id)
        if event_id is None:
            self.store.rollback()
            raise NotAssigned()
        self.finish(conversation_id, "released", "waiting", event_id, staff=staff)

    def close(self, conversation_id: str, staff: StaffMember, note: str | None = None) -> None:
        """Close a conversation the caller holds (an admin: any waiting or held one); the note is for staff only."""
        self.state(conversation_id)
        note = mask_card_numbers(note) if note else None
        held_by = None if staff.has_role("admin") else staff.id
        allowed = HELD if held_by is None else ("agent",)
        change = Change("closed", allowed, "closed", {"agent_id": None, "waiting_since": None}, held_by=held_by)
        event_id = self.store.change(conversation_id, change, self.clock(), author=staff.name, staff_id=staff.id,
                                     detail=note or None)
        if event_id is None:
            self.store.rollback()
            raise NotAssigned()
        self.webhooks.enqueue(self.store.connection, "conversation.closed", conversation_id,
                              {**self.handoff_context(conversation_id), "agent": staff.name, "note": note or None})
        self.finish(conversation_id, "closed", "closed", event_id, staff=staff)

    def reply(self, conversation_id: str, staff: StaffMember, content: str) -> tuple[int, str, datetime]:
        """Store an agent's message (card numbers masked) in a conversation the caller holds; NotAssigned otherwise.

        Return its id, its text as stored and its time.
        """
        self.state(conversation_id)
        content = mask_card_numbers(content)
        now = self.clock()
        if not self.store.touch_if_agents(conversation_id, staff.id, now):
            self.store.rollback()
            raise NotAssigned()
        message_id = self.store.insert(conversation_id, "agent", content, now, author=staff.name, staff_id=staff.id)
        message = webhook_message(message_id, "agent", content, now, staff.name)
        self.webhooks.enqueue(self.store.connection, "message.created", conversation_id,
                              {**self.handoff_context(conversation_id), "message": message})
        self.store.commit()
        self.webhooks.notify()
        self.hub.publish(conversation_channel(conversation_id), {"kind": "message", "message_id": message_id})
        log.info("agent_message", conversation_id=conversation_id, message_id=message_id, staff_id=staff.id)
        return message_id, content, now

    def customer_message(self, conversation_id: str, content: str) -> tuple[int, ConversationState] | None:
        """Store a customer's message while a person has the conversation; the helpdesk and the agent hear of it.

        Return its id and the state it was stored in; None, storing nothing, when nobody
        has the conversation any more (it was closed meanwhile): the bot answers then.
        """
        now = self.clock()
        if not self.store.touch_if_held(conversation_id, now):  # locks the row: the state read next stands
            self.store.rollback()
            return None
        held = self.state(conversation_id)
        message_id = self.store.insert(conversation_id, "user", content, now)
        message = webhook_message(message_id, "user", content, now)
        self.webhooks.enqueue(self.store.connection, "message.created", conversation_id,
                              {**self.handoff_context(conversation_id), "message": message})
        self.store.commit()
        self.webhooks.notify()
        self.hub.publish(STAFF_CHANNEL, {"kind": "message", "conversation_id": conversation_id})
        return message_id, held

    def handoff_context(self, conversation_id: str) -> dict[str, Any]:
        """Return the latest handoff's trigger and reason, which every webhook event of the conversation carries."""
        handoff = self.store.latest_handoff_event(conversation_id)
        return {"trigger": handoff.trigger if handoff else None, "reason": handoff.detail if handoff else None}

    def failures_in_a_row(self, conversation_id: str, threshold: int) -> bool:
        """Return whether the newest `threshold` questions all failed upstream with no fallback answer."""
        if threshold <= 0:
            return False
        codes = self.store.recent_question_errors(conversation_id, threshold)
        self.store.rollback()
        return len(codes) == threshold and all(code in UPSTREAM_CODES for code in codes)

    def updates(self, conversation_id: str, after: int) -> list[Any]:
        """Return what the customer's stream sends after a message: agents' messages and changes of state."""
        try:
            return self.store.messages_after(conversation_id, after, ("agent", "event"))
        finally:
            self.store.release_connection()  # the stream waits next: no connection held while idle

    def customer_messages(self, staff: StaffMember, after: int) -> list[Any]:
        """Return customer messages newer than `after` in the conversations this agent holds."""
        try:
            return self.store.customer_messages_for(staff.id, after)
        finally:
            self.store.release_connection()

    def newest_message_id(self, conversation_id: str | None = None) -> int:
        """Return the newest message id (of a conversation, or of all); where a stream starts by default."""
        try:
            return self.store.newest_message_id(conversation_id)
        finally:
            self.store.release_connection()

    def release_connection(self) -> None:
        """Give the session's connection back to the pool (before a stream that may wait for hours)."""
        self.store.release_connection()

    def staff_view(self, conversation_id: str, after: int = 0) -> StaffView:
        """Return what an agent sees of a conversation: its state, latest handoff, messages and their feedback."""
        state = self.state(conversation_id)
        messages = self.store.messages_after(conversation_id, after, ("user", "assistant", "agent", "event"))
        handoff = self.handoff_context(conversation_id)
        feedback = self.feedback(messages)
        self.store.rollback()
        return StaffView(state, handoff["trigger"], handoff["reason"], messages, feedback)

    def feedback(self, messages: Iterable[Any]) -> dict[int, dict[str, Any]]:
        """Return customers' ratings of those of these messages a customer may rate, by message id.

        Read in the caller's transaction, which the caller ends: a rollback here would expire its ORM messages.
        """
        return self.store.feedback(message.id for message in messages if message.role in RATED_ROLES)

    def queue(self, staff: StaffMember) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Return the waiting conversations (oldest first) and the caller's, with trigger, reason, last message."""
        waiting, mine = self.store.queue(staff.id, QUEUE_LIMIT)
        now = self.clock()
        described = [self.describe(item, now) for item in waiting], [self.describe(item, now) for item in mine]
        self.store.rollback()
        return described

    def describe(self, conversation: ConversationState, now: datetime) -> dict[str, Any]:
        """Return a queue entry: state, waiting time, the handoff's trigger and reason, the last customer message."""
        since = conversation.waiting_since
        return {
            "conversation_id": conversation.id,
            "state": conversation.state,
            "waiting_since": since,
            "waiting_seconds": round(max((now - since).total_seconds(), 0.0), 1) if since else None,
            **self.handoff_context(conversation.id),
            "last_customer_message": self.store.last_customer_message(conversation.id),
            "agent": conversation.agent,
        }

    def finish(self, conversation_id: str, event: str, state: str, event_id: int, *,
               trigger: str | None = None, staff: StaffMember | None = None) -> None:
        """Commit a change of state, then wake the helpdesk's dispatcher, the customer, the consoles; log, count."""
        self.store.commit()
        self.webhooks.notify()
        self.hub.publish(conversation_channel(conversation_id), {"kind": "state", "message_id": event_id})
        self.hub.publish(STAFF_CHANNEL, {"kind": "queue", "conversation_id": conversation_id})
        log.info("conversation_state_changed", conversation_id=conversation_id, change=event, state=state,
                 trigger=trigger, staff_id=staff.id if staff else None)
        self.count_waiting()

    def count_waiting(self) -> bool:
        """Set the waiting gauge from the database (right whichever process changed what); False if it failed."""
        try:
            metrics.CONVERSATIONS_WAITING.set(self.store.waiting_count())
            self.store.rollback()
        except SQLAlchemyError as error:  # the change is committed: a gauge must not fail its request
            self.store.rollback()
            log.warning("waiting_count_failed", error_type=type(error).__name__)
            return False
        return True


def webhook_message(message_id: int, role: str, content: str, created_at: datetime, author: str | None = None
                    ) -> dict[str, Any]:
    """Return a message as the helpdesk's webhook events carry it (an agent's with its author)."""
    message = {"message_id": message_id, "role": role, "content": content,
               "created_at": iso(created_at)}
    if author is not None:
        message["author"] = author
    return message
