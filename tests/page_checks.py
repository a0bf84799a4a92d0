"""Helpers for the pages' route tests: the strict CSP, and what in a page's HTML it would block."""

from __future__ import annotations

import re

STRICT_CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"


def blocked_or_foreign(html: str) -> list[str]:
    """Return what in a page the strict CSP would block, or that would load from elsewhere; [] for a clean page."""
    found = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # inline script: every script must be a file
    found += re.findall(r"<style\b[^>]*>|\sstyle=", html)  # style elements and attributes
    found += re.findall(r"\son[a-z]+=", html)  # inline event handlers
    found += re.findall(r"https?://[^\s\"'<>]+", html)  # anything from another origin
    return found
