"""Structured logging: JSON lines from structlog and from the standard library alike.

`configure_logging(app)` sends every record to LOG_FILE (size-rotated) and, when
LOG_TO_STDOUT is set, to stdout. It replaces the handlers it installed before, so
building many apps in one process (the tests do) neither leaks file handles nor
duplicates lines. `init_request_logging(app)` writes one canonical line per request.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from logging.handlers import RotatingFileHandler, WatchedFileHandler
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog
from flask import Flask, Response, current_app, g, request

from app.utils.privacy import hash_address

log = structlog.get_logger("app.request")

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_OURS = "_greengrocer_handler"  # marks the handlers this module installed

SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(app: Flask) -> None:
    """Route structlog and standard-library records, as JSON lines, to the configured outputs."""
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handlers: list[logging.Handler] = []
    if app.config["LOG_FILE"]:
        path = Path(app.config["LOG_FILE"])
        if not path.is_absolute():
            path = Path(app.root_path).parent / path
        path.parent.mkdir(parents=True, exist_ok=True)
        if app.config["LOG_FILE_ROTATION"] == "external":  # logrotate moves the file; reopen it then
            handlers.append(WatchedFileHandler(path, encoding="utf-8"))
        else:  # one process only: several processes rotating one file lose lines
            handlers.append(
                RotatingFileHandler(
                    path,
                    maxBytes=app.config["LOG_MAX_BYTES"],
                    backupCount=app.config["LOG_BACKUP_COUNT"],
                    encoding="utf-8",
                )
            )
    if app.config["LOG_TO_STDOUT"]:
        handlers.append(logging.StreamHandler(sys.stdout))

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        setattr(handler, _OURS, True)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"].upper())
    # One "HTTP Request: POST ..." line per DeepSeek call says less than our `llm_call` line.
    logging.getLogger("httpx2").setLevel(logging.WARNING)


def init_request_logging(app: Flask) -> None:
    """Tag each request with a request id and log one line for it when it ends."""
    app.before_request(_start_request)
    app.after_request(_log_request)


def address_for_logs(address: str | None, config: Mapping[str, Any]) -> str | None:
    """Return a client address as the logs show it: hashed when LOG_HASH_IP is on."""
    return hash_address(address, config["LOG_HASH_SALT"]) if config["LOG_HASH_IP"] else address


def _start_request() -> None:
    structlog.contextvars.clear_contextvars()
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = supplied if _SAFE_REQUEST_ID.match(supplied) else uuid.uuid4().hex
    g.request_started = time.perf_counter()
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


def _log_request(response: Response) -> Response:
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 2) if started is not None else None
    log.info(
        "request",
        method=request.method,
        path=request.path,
        status=response.status_code,
        duration_ms=duration_ms,
        client_ip=address_for_logs(request.remote_addr, current_app.config),
    )
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response
