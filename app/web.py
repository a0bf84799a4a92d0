"""The chat page at /: a person can talk to the bot, and frontend teams have a reference.

Plain HTML, CSS and JavaScript from `templates/chat.html` and `static/chat.*`, with
no inline script or style, so the app's CSP (`default-src 'self'`) holds unchanged.
The page talks to the API like any other frontend; it is outside /api/v1, so loading
it costs nothing of the client's rate-limit budget.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

web_bp = Blueprint("web", __name__)


@web_bp.get("/")
def chat_page() -> str:
    """Serve the chat page."""
    return render_template("chat.html", max_message_chars=current_app.config["MAX_MESSAGE_CHARS"])
