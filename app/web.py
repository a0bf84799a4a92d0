"""The pages: the chat page at / (a person talks to the bot; a reference for frontends) and /admin.

Plain HTML, CSS and JavaScript from `templates/` and `static/` (`chat.*`, `admin.*`), with
no inline script or style, so the app's CSP (`default-src 'self'`) holds unchanged.
Each page talks to the API like any other frontend; pages are outside /api/v1, so loading
one costs nothing of the client's rate-limit budget.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

web_bp = Blueprint("web", __name__)


@web_bp.get("/")
def chat_page() -> str:
    """Serve the chat page."""
    return render_template("chat.html", max_message_chars=current_app.config["MAX_MESSAGE_CHARS"])


@web_bp.get("/admin")
def admin_page() -> str:
    """Serve the admin page: it signs in with a staff token and reads everything from the staff API."""
    return render_template("admin.html")


@web_bp.get("/agent")
def agent_console() -> str:
    """Serve the agent console: the queue, claim, the transcript, reply, release, close."""
    return render_template("agent.html")
