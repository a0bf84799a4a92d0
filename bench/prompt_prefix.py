"""How much of each DeepSeek prompt repeats the previous one from its first byte: the part its prefix cache bills
at the cache-hit price.

Run from the project folder:  python -m bench.prompt_prefix

Another customer's question (the call just before, as in a busy shop), then a scripted six-turn
conversation, then one more customer's question go through the app (the real DeepSeek client,
over HTTP, to the tests' stand-in), twice:

- before: KB_PROMPT_MAX_CHARS=0, main's approach until the knowledge base moved into the
  database: the system prompt, the history, then the store facts related to the question;
- after: the default, the whole knowledge base right after the system prompt.

Each call's prompt is its `messages` array serialized as sent (JSON, UTF-8). "repeated" is the
share of its bytes that repeat the previous call's prompt byte for byte from the first; "new"
is the bytes that do not (what the cache cannot serve). "Cost" weighs a repeated byte at
HIT_PRICE_RATIO of a new one (DeepSeek prices cache-hit input at about a tenth of cache-miss
input). docs/knowledge-base.md has the figures.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.storage.database import upgrade_schema  # noqa: E402
from tests.deepseek_standin import Reply, StandIn  # noqa: E402

# (question, the stand-in's answer); none of these is a direct FAQ answer, so each one calls DeepSeek.
CONVERSATION = [
    ("Hi! I'm new here. Do you sell organic kale?",
     "Welcome! Yes, we stock organic kale most days under Fresh Produce > Leafy Greens."),
    ("the strawberries in my last order were moldy",
     "I'm sorry about that! Report it in My Orders within 48 hours of delivery with a photo for a refund or a "
     "replacement."),
    ("is there a delivery fee on sundays",
     "Delivery is free on orders over $50; below that it is $4.99, Sundays included (10 AM to 6 PM EST)."),
    ("I'd like to add the kale to tomorrow's order, is that still possible?",
     "You can edit an order in My Orders until it is packed; add the kale there."),
    ("do I need to send the moldy strawberries back?",
     "Once the report is approved, the refund goes back to your original payment method within 3-5 business days."),
    ("thanks! one last thing: do you have recipes for kale?",
     "We do not publish recipes, but kale is lovely sautéed with garlic or in a salad. Enjoy!"),
]
BEFORE = ("Do you sell gluten-free bread?", "Yes, several kinds, under Bakery > Gluten-free.")
AFTER = ("Do you deliver on public holidays?", "We deliver on most public holidays; check the app.")
HIT_PRICE_RATIO = 0.1
SETTINGS = {"before (related facts after the history)": 0, "after (whole knowledge base after the system prompt)": 16000}


def prompts(max_chars: int) -> list[list[dict[str, Any]]]:
    """Ask another customer's question, hold the scripted conversation, ask one more; return each call's messages."""
    standin = StandIn().start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            app = create_app({
                "FLASK_ENV": "testing", "DEEPSEEK_API_KEY": "sk-bench", "DEEPSEEK_BASE_URL": standin.url,
                "DATABASE_URL": f"sqlite:///{Path(folder) / 'bench.db'}", "LOG_FILE": "", "LOG_TO_STDOUT": False,
                "RATE_LIMITS": "", "KB_PROMPT_MAX_CHARS": max_chars,
            })
            upgrade_schema(app)
            client = app.test_client()
            ask(client, standin, *BEFORE)
            conversation_id = None
            for question, answer in CONVERSATION:
                conversation_id = ask(client, standin, question, answer, conversation_id)
            ask(client, standin, *AFTER)
            app.extensions["chatbot"].llm.close()
            return [request.body["messages"] for request in standin.requests]
    finally:
        standin.stop()


def ask(client: Any, standin: StandIn, question: str, answer: str, conversation_id: str | None = None) -> str:
    """Ask one question DeepSeek must answer; return the conversation id."""
    standin.push(Reply(content=answer))
    body = {"message": question, **({"conversation_id": conversation_id} if conversation_id else {})}
    reply = client.post("/api/v1/chat", json=body).get_json()
    if reply.get("source") != "llm":
        raise SystemExit(f"{question!r} did not go to DeepSeek ({reply}); the script needs questions that do")
    return reply["conversation_id"]


def serialized(messages: list[dict[str, Any]]) -> bytes:
    """A prompt as the bytes the prefix cache compares: its messages, in order, as JSON."""
    return json.dumps(messages, ensure_ascii=False).encode("utf-8")


def repeated_bytes(previous: bytes, current: bytes) -> int:
    """Return how many bytes of `current`, from its first, repeat `previous`."""
    return len(os.path.commonprefix([previous, current]))


def table() -> str:
    """Run both settings and return the markdown table (the call just before the conversation is not counted)."""
    runs = {name: [serialized(messages) for messages in prompts(max_chars)] for name, max_chars in SETTINGS.items()}
    labels = [f"turn {n}" for n in range(1, len(CONVERSATION) + 1)] + ["another customer's question"]
    header = ["call"]
    for name in runs:
        header += [f"{name}: bytes", "repeated", "new bytes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    totals = {name: [0, 0] for name in runs}
    for number, label in enumerate(labels, start=1):
        row = [label]
        for name, calls in runs.items():
            current = calls[number]
            repeated = repeated_bytes(calls[number - 1], current)
            totals[name][0] += len(current)
            totals[name][1] += repeated
            row += [f"{len(current):,}", f"{repeated / len(current):.1%}", f"{len(current) - repeated:,}"]
        lines.append("| " + " | ".join(row) + " |")
    total_row, cost_row = ["all 7 calls"], [f"cost (new bytes + {HIT_PRICE_RATIO:g} x repeated)"]
    for sent, repeated in totals.values():
        total_row += [f"{sent:,}", f"{repeated / sent:.1%}", f"{sent - repeated:,}"]
        cost_row += ["", "", f"{sent - repeated + HIT_PRICE_RATIO * repeated:,.0f}"]
    lines += ["| " + " | ".join(total_row) + " |", "| " + " | ".join(cost_row) + " |"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
