"""The service layer: built once per app from its config and kept in `app.extensions`."""

from __future__ import annotations

from pathlib import Path

import structlog
from flask import Flask, current_app

from app.extensions import db
from app.services.analytics import AnalyticsService, Prices
from app.services.chatbot_service import ChatbotService, HistoryLimits
from app.services.export import ConversationExport
from app.services.feedback import FeedbackService
from app.services.faq_file import load_faq_file, resolve
from app.services.handoff import HandoffService
from app.services.knowledge_base import KnowledgeBaseService
from app.services.live_events import LiveEvents
from app.services.llm import DeepSeekClient
from app.services.redis_client import init_redis
from app.services.staff_accounts import StaffAccounts
from app.services.support_hours import SupportHours
from app.services.token_budget import DailyTokenBudget
from app.services.webhooks import HelpdeskWebhooks, init_webhooks
from app.storage.analytics import AnalyticsStore
from app.storage.conversations import ConversationStore
from app.storage.feedback import FeedbackStore
from app.storage.handoffs import HandoffStore
from app.storage.knowledge_base import KnowledgeBaseStore
from app.storage.staff import StaffStore

log = structlog.get_logger(__name__)


def init_services(app: Flask) -> None:
    """Build the knowledge base, chat service, Redis, live events, staff accounts, webhook; a bad FAQ_FILE stops it."""
    config = app.config
    init_webhooks(app)
    knowledge_base = build_knowledge_base(app)
    llm = None
    if config["DEEPSEEK_API_KEY"]:
        llm = DeepSeekClient(
            api_key=config["DEEPSEEK_API_KEY"],
            base_url=config["DEEPSEEK_BASE_URL"],
            model=config["DEEPSEEK_MODEL"],
            timeout=config["DEEPSEEK_TIMEOUT"],
            max_retries=config["DEEPSEEK_MAX_RETRIES"],
            retry_backoff=config["DEEPSEEK_RETRY_BACKOFF"],
            temperature=config["DEEPSEEK_TEMPERATURE"],
            max_tokens=config["DEEPSEEK_MAX_TOKENS"],
        )
    else:
        log.warning("deepseek_not_configured", detail="DEEPSEEK_API_KEY is not set; only FAQs will be answered")
    budget = None
    redis_client = init_redis(app)
    if config["DEEPSEEK_DAILY_TOKEN_BUDGET"] > 0:
        budget = DailyTokenBudget(config["DEEPSEEK_DAILY_TOKEN_BUDGET"], redis_client, config["REDIS_KEY_PREFIX"])
    hub = LiveEvents(config["REDIS_URL"], config["REDIS_KEY_PREFIX"], client=redis_client)
    app.extensions["live_events"] = hub
    handoff = app.extensions["handoff"] = build_handoff(app, hub)
    app.extensions["chatbot"] = ChatbotService(
        knowledge_base,
        llm,
        ConversationStore(db.session),
        history=HistoryLimits(config["HISTORY_MAX_MESSAGES"], config["HISTORY_MAX_TOKENS"]),
        heartbeat_seconds=config["STREAM_HEARTBEAT_SECONDS"],
        support_contact=config["SUPPORT_CONTACT"],
        max_turns=config["MAX_TURNS_PER_CONVERSATION"],
        budget=budget,
        knowledge_base_prompt_max_chars=config["KB_PROMPT_MAX_CHARS"],
        handoff=handoff,
        handoff_after_failures=config["HANDOFF_AFTER_FAILURES"],
    )
    app.extensions["staff_accounts"] = StaffAccounts(StaffStore(db.session))
    app.extensions["feedback"] = FeedbackService(app.extensions["chatbot"], FeedbackStore(db.session))
    app.extensions["analytics"] = AnalyticsService(AnalyticsStore(db.session), knowledge_base, deepseek_prices(app))
    app.extensions["export"] = ConversationExport(AnalyticsStore(db.session))


def build_handoff(app: Flask, hub: LiveEvents) -> HandoffService:
    """Build the handoff service; bad SUPPORT_HOURS, SUPPORT_TIMEZONE or HANDOFF_AFTER_FAILURES stop the app."""
    config = app.config
    if config["HANDOFF_AFTER_FAILURES"] < 0:
        raise ValueError(f"HANDOFF_AFTER_FAILURES must be 0 or more, got {config['HANDOFF_AFTER_FAILURES']!r}")
    hours = SupportHours.parse(config["SUPPORT_HOURS"], config["SUPPORT_TIMEZONE"])
    return HandoffService(
        HandoffStore(db.session), app.extensions["webhooks"], hub, hours, support_contact=config["SUPPORT_CONTACT"]
    )


def chatbot_service() -> ChatbotService:
    """Return the current app's chat service (the one accessor every blueprint uses)."""
    return current_app.extensions["chatbot"]


def staff_accounts_service() -> StaffAccounts:
    """Return the current app's staff accounts (for the staff blueprint, its auth and `flask staff`)."""
    return current_app.extensions["staff_accounts"]


def handoff_service() -> HandoffService:
    """Return the current app's handoff service (the chat flow, the handoff routes and the staff console's)."""
    return current_app.extensions["handoff"]


def live_events() -> LiveEvents:
    """Return the current app's live-events hub (publish after a commit, subscribe to wait for changes)."""
    return current_app.extensions["live_events"]


def webhooks_service() -> HelpdeskWebhooks:
    """Return the current app's helpdesk webhook (for the handoff service, the staff blueprint and `flask webhooks`)."""
    return current_app.extensions["webhooks"]


def feedback_service() -> FeedbackService:
    """Return the current app's customer feedback (ratings of answers)."""
    return current_app.extensions["feedback"]


def analytics_service() -> AnalyticsService:
    """Return the current app's numbers and lists for the support team (the staff stats and questions routes)."""
    return current_app.extensions["analytics"]


def export_service() -> ConversationExport:
    """Return the current app's conversation export (the staff export route)."""
    return current_app.extensions["export"]


def knowledge_base_service() -> KnowledgeBaseService:
    """Return the current app's live knowledge base (for the chat service, the staff FAQ routes and `flask faq`)."""
    return current_app.extensions["knowledge_base"]


def build_knowledge_base(app: Flask) -> KnowledgeBaseService:
    """Build the live knowledge base, with FAQ_FILE (checked now: FaqFileError if invalid) to seed an empty database."""
    for setting in ("KB_PROMPT_MAX_CHARS", "KB_REFRESH_SECONDS"):
        if app.config[setting] < 0:
            raise ValueError(f"{setting} must be 0 or more, got {app.config[setting]!r}")
    path = faq_path(app)
    seed = load_faq_file(path)
    log.info("faq_file_checked", path=str(path), entries=len(seed.entries), concepts=len(seed.concepts))
    service = KnowledgeBaseService(
        KnowledgeBaseStore(db.session), seed, refresh_seconds=app.config["KB_REFRESH_SECONDS"]
    )
    app.extensions["knowledge_base"] = service
    return service


def deepseek_prices(app: Flask) -> Prices:
    """Return the DEEPSEEK_PRICE_* settings (USD per million tokens); a negative one stops the app."""
    names = ("DEEPSEEK_PRICE_INPUT_CACHE_HIT", "DEEPSEEK_PRICE_INPUT_CACHE_MISS", "DEEPSEEK_PRICE_OUTPUT")
    for setting in names:
        if not app.config[setting] >= 0:  # NaN too
            raise ValueError(f"{setting} must be 0 or more (USD per million tokens), got {app.config[setting]!r}")
    return Prices(*(float(app.config[setting]) for setting in names))


def faq_path(app: Flask, path: str | None = None) -> Path:
    """Return FAQ_FILE, or the given path, resolved against the project folder."""
    return resolve(path or app.config["FAQ_FILE"], Path(app.root_path).parent)
