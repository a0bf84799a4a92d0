"""Settings for each environment.

The classes hold the defaults; `settings_for()` lays real environment variables
(and `.env.<env>` files, loaded by the factory) over them. Every setting is listed,
with its meaning, in docs/configuration.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Config:
    """Defaults shared by every environment; safe for production."""

    # Flask
    DEBUG = False
    TESTING = False
    MAX_CONTENT_LENGTH = 64 * 1024

    # The assistant
    ASSISTANT_VERSION = "1.0.0"
    SUPPORT_CONTACT = "support@greengrocerfoods.com or 1-800-555-0142 (8 AM to 8 PM EST)"
    MAX_MESSAGE_CHARS = 4000
    FAQ_FILE = "instance/faq.yaml"  # seeds an empty knowledge base; `flask faq import` default; relative to the project
    KB_PROMPT_MAX_CHARS = 16000  # send DeepSeek the whole knowledge base up to this size, else the related entries
    KB_REFRESH_SECONDS = 2.0  # how often each process checks the database for a changed knowledge base

    # Handoff to a person (docs/handoff.md)
    HANDOFF_AFTER_FAILURES = 2  # consecutive failed bot turns after which an error offers "handoff_available"
    SUPPORT_HOURS = ""  # e.g. "Mon-Fri 08:00-18:00; Sat 09:00-13:00"; empty: the team is always there
    SUPPORT_TIMEZONE = "UTC"  # IANA name the SUPPORT_HOURS are in, e.g. America/New_York

    # DeepSeek (OpenAI-compatible chat completions)
    DEEPSEEK_API_KEY = ""
    DEEPSEEK_BASE_URL = "https://api.deepseek.com"
    DEEPSEEK_MODEL = "deepseek-chat"
    DEEPSEEK_TIMEOUT = 30.0
    DEEPSEEK_MAX_RETRIES = 2
    DEEPSEEK_RETRY_BACKOFF = 0.5
    DEEPSEEK_TEMPERATURE = 0.7
    DEEPSEEK_MAX_TOKENS = 500
    DEEPSEEK_DAILY_TOKEN_BUDGET = 0  # tokens (prompt + completion) DeepSeek may bill per UTC day; 0 = no cap
    # USD per million tokens, for the estimated cost of GET /api/v1/staff/stats (deepseek-chat's list prices)
    DEEPSEEK_PRICE_INPUT_CACHE_HIT = 0.07
    DEEPSEEK_PRICE_INPUT_CACHE_MISS = 0.27
    DEEPSEEK_PRICE_OUTPUT = 1.10

    # Conversations
    DATABASE_URL = "sqlite:///chatbot.db"  # relative SQLite paths live in instance/
    # PostgreSQL connections each process keeps open, and how many more it may open for a burst (each
    # opened and closed again: a new server process per connection, so 0 waits for a free one instead)
    DATABASE_POOL_SIZE = 20
    DATABASE_MAX_OVERFLOW = 0
    HISTORY_MAX_MESSAGES = 20
    HISTORY_MAX_TOKENS = 4000  # estimated tokens of the history resent to DeepSeek (CJK and emoji cost more)
    MAX_TURNS_PER_CONVERSATION = 100  # questions per conversation; past it, 409 CONVERSATION_FULL
    CONVERSATION_RETENTION_DAYS = 30
    STREAM_HEARTBEAT_SECONDS = 15.0

    # Shared state between processes and instances (the token budget, live events)
    REDIS_URL = ""  # e.g. redis://redis:6379/0; empty: each process keeps its own state in memory
    REDIS_KEY_PREFIX = "greengrocer:"  # before every key this app writes in REDIS_URL

    # The helpdesk webhook (docs/handoff.md): off while HANDOFF_WEBHOOK_URL is empty
    HANDOFF_WEBHOOK_URL = ""
    HANDOFF_WEBHOOK_SECRET = ""  # required with the URL: the key of each body's X-Signature-256
    WEBHOOK_MAX_ATTEMPTS = 8
    WEBHOOK_TIMEOUT = 10.0  # seconds per attempt, whole
    WEBHOOK_RETRY_BACKOFF = 10.0  # seconds before the first retry, doubling after each failed attempt
    WEBHOOK_POLL_SECONDS = 5.0  # how often each dispatcher looks for due events it was not woken for
    WEBHOOK_RETENTION_DAYS = 7  # delivered events are kept this long (`flask webhooks purge`)

    # Security
    FORCE_HTTPS = True
    TRUSTED_PROXIES = 0
    API_KEYS = ""
    RATE_LIMITS = "200/hour;50/minute"  # per client: an IPv4 address, or an IPv6 network (RATELIMIT_IPV6_PREFIX)
    API_KEY_RATE_LIMITS = "10000/hour;1000/minute"  # per API key, on top of the client's: size it to the frontend
    RATELIMIT_IPV6_PREFIX = 64  # IPv6 clients are counted per /64: one connection gets a whole /64
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_KEY_PREFIX = ""
    RATELIMIT_FAIL_MODE = "open"  # storage unreachable: open counts in process memory, closed answers 503
    CORS_ORIGINS = ""  # comma-separated origins allowed to call /api/v1 from a browser; none by default
    STAFF_RATE_LIMITS = "600/minute"  # per staff account, on /api/v1/staff
    STAFF_AUTH_FAILURE_LIMITS = "20/minute"  # per client: staff requests without a valid staff token

    # Operations
    METRICS_TOKEN = ""

    # Logging
    LOG_LEVEL = "INFO"
    LOG_FILE = "logs/app.log"
    LOG_MAX_BYTES = 10 * 1024 * 1024
    LOG_BACKUP_COUNT = 5
    LOG_TO_STDOUT = False
    LOG_FILE_ROTATION = "size"
    LOG_MESSAGES = False
    LOG_HASH_IP = False
    LOG_HASH_SALT = ""  # key of the hashes of client addresses and conversation ids in logs; set it in production


class DevelopmentConfig(Config):
    """Local development: plain HTTP, debug on, frontends on any local port may call the API."""

    DEBUG = True
    FORCE_HTTPS = False
    CORS_ORIGINS = "http://localhost:*,http://127.0.0.1:*"


class TestingConfig(Config):
    """The test suite: plain HTTP, a tight rate limit that tests can reach."""

    TESTING = True
    FORCE_HTTPS = False
    RATE_LIMITS = "5 per minute"
    API_KEY_RATE_LIMITS = "8 per minute"


class ProductionConfig(Config):
    """Production: HTTPS redirect and HSTS on; JSON logs to stdout (many workers must not rotate one file)."""

    FORCE_HTTPS = True
    LOG_FILE = ""
    LOG_TO_STDOUT = True


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_class(name: str) -> type[Config]:
    """Return the class for an environment name ("testing") or class name ("TestingConfig")."""
    key = name.strip().lower()
    for env_name, cls in CONFIGS.items():
        if key in (env_name, cls.__name__.lower()):
            return cls
    raise ValueError(f"unknown configuration {name!r}; use one of {', '.join(CONFIGS)}")


def settings_for(cls: type[Config], environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Return the class's settings with any environment variable of the same name laid over them."""
    settings: dict[str, Any] = {}
    for name in dir(cls):
        if not name.isupper():
            continue
        default = getattr(cls, name)
        settings[name] = _coerce(name, environ[name], default) if name in environ else default
    return settings


def _coerce(name: str, raw: str, default: Any) -> Any:
    """Turn an environment string into the type of the setting's default, or explain why not."""
    value = raw.strip()
    if isinstance(default, bool):
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ValueError(f"{name} must be true or false, got {raw!r}")
    try:
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        kind = "an integer" if isinstance(default, int) else "a number"
        raise ValueError(f"{name} must be {kind}, got {raw!r}") from None
    return raw
