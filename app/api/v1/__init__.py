"""Version 1 of the public API, mounted at /api/v1: rate limits per client and per API key, keys if configured."""

from __future__ import annotations

from flask import Blueprint

from app.api.v1.chat import chat_bp
from app.api.v1.conversations import conversations_bp
from app.api.v1.feedback import feedback_bp
from app.security.api_keys import require_api_key
from app.security.rate_limits import rate_limited

v1_bp = rate_limited(Blueprint("v1", __name__))  # before the key check: guessing keys costs the client's budget
v1_bp.before_request(require_api_key)  # the nested chat, conversations and feedback blueprints inherit both
v1_bp.register_blueprint(chat_bp)
v1_bp.register_blueprint(conversations_bp)
v1_bp.register_blueprint(feedback_bp)
