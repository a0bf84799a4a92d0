"""CORS in a real browser: a frontend on another origin (another port) calls the API.

Chromium sends the preflight itself (a JSON POST is not a "simple" request) and enforces
the answer, so this checks what the unit tests in tests/test_cors.py cannot: that a
browser accepts our headers, streams the answer and lets the script read what we expose.
"""

from __future__ import annotations

from flask import Flask

CALL_THE_API = """async (api) => {
  try {
    const response = await fetch(api + "/api/v1/chat/stream", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({message: "What are your delivery hours?"}),
    });
    return {
      status: response.status,
      requestId: response.headers.get("X-Request-ID"),
      remaining: response.headers.get("X-RateLimit-Remaining"),
      body: await response.text(),
    };
  } catch (error) {
    return {error: error.name};
  }
}"""


def frontend_app() -> Flask:
    """Another origin's page: a blank document for the test's script to run in."""
    frontend = Flask("frontend")
    page = "<!DOCTYPE html><title>Another frontend</title><link rel=icon href=data:,>"
    frontend.add_url_rule("/", "page", lambda: page)
    return frontend


def test_an_allowed_origin_streams_an_answer_and_reads_the_exposed_headers(make_app, serve, page, standin):
    api = serve(make_app(CORS_ORIGINS="http://127.0.0.1:*"))  # what development allows
    page.goto(serve(frontend_app()) + "/")

    result = page.evaluate(CALL_THE_API, api)

    assert result["status"] == 200
    assert result["requestId"]  # exposed
    assert result["remaining"] == "4"  # exposed; the preflight did not count
    assert "event: done" in result["body"] and "8 AM to 8 PM EST" in result["body"]


def test_a_frontend_on_another_origin_is_refused_by_default(make_app, serve, page, watch, standin):
    watch.expect_console_error(r"has been blocked by CORS policy: Response to preflight request doesn.t pass")
    watch.expect_console_error(r"Failed to load resource: net::ERR_FAILED")
    api = serve(make_app())  # CORS_ORIGINS empty, as in production
    page.goto(serve(frontend_app()) + "/")

    result = page.evaluate(CALL_THE_API, api)

    assert result == {"error": "TypeError"}
    assert standin.requests == []
