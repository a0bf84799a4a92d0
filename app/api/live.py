"""The live streams of a handoff: the customer's (agents' messages, changes of state) and the staff console's.

Both follow app/services/live_events.py: subscribe first, then read the database after the
last thing sent, then wait to be woken (or for a heartbeat) and read again. The database is
the truth, a notification only wakes: one lost costs a heartbeat's delay, never a message.
No database connection is held while a stream waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.api import sse
from app.services import handoff_service, live_events
from app.services.handoff import STAFF_CHANNEL, conversation_channel
from app.services.staff_accounts import StaffMember
from app.utils.timestamps import iso


def conversation_events(conversation_id: str, after: int | None, heartbeat: float) -> Iterator[str]:
    """Stream a conversation's agent messages and changes of state after a message; end once it is closed."""
    service = handoff_service()
    with live_events().subscribe(conversation_channel(conversation_id)) as subscription:
        yield sse.format_comment("listening")  # sends the headers: from here on nothing is missed
        last = service.newest_message_id(conversation_id) if after is None else after
        while True:
            for row in service.updates(conversation_id, last):
                last = row.id
                yield customer_event(row)
                if row.role == "event" and row.state == "closed":
                    return
            if not subscription.wait(heartbeat):
                yield sse.format_comment("heartbeat")


def customer_event(row: Any) -> str:
    """Frame an agent's message as a `message` event, a change of state as a `state` event (id: its message_id)."""
    if row.role == "agent":
        data = {"message_id": row.id, "role": "agent", "author": row.author, "content": row.content,
                "created_at": iso(row.created_at)}
        return sse.format_event("message", data, row.id)
    agent = row.author if row.state == "agent" else None
    return sse.format_event("state", {"state": row.state, "agent": agent, "message_id": row.id, "event": row.event},
                            row.id)


def staff_events(staff: StaffMember, heartbeat: float) -> Iterator[str]:
    """Stream `queue` events (a conversation's state changed) and customers' messages in the caller's conversations."""
    service = handoff_service()
    with live_events().subscribe(STAFF_CHANNEL) as subscription:
        last = service.newest_message_id()
        yield sse.format_event("queue", {"conversation_id": None})  # read the queue now
        while True:
            woken = subscription.wait(heartbeat)
            notifications = subscription.received()
            changed = [n.payload.get("conversation_id") for n in notifications if n.payload.get("kind") == "queue"]
            if woken and not notifications:  # a reconnection: whatever was published meanwhile is lost
                changed.append(None)
            for conversation_id in dict.fromkeys(changed):
                yield sse.format_event("queue", {"conversation_id": conversation_id})
            for row in service.customer_messages(staff, last):
                last = row.id
                data = {"conversation_id": row.conversation_id, "message_id": row.id, "role": row.role,
                        "content": row.content, "created_at": iso(row.created_at)}
                yield sse.format_event("message", data, row.id)
            if not woken:
                yield sse.format_comment("heartbeat")
