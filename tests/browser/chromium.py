"""Finding and launching Debian's Chromium for Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil

from playwright.sync_api import Browser, Playwright

# No sandbox (CI runs as root), no GPU, and none of Chromium's own traffic: nothing may leave the machine.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    """Return CHROMIUM_PATH if set, else the `chromium` (or `chromium-browser`) on PATH, or None."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright: Playwright, executable_path: str) -> Browser:
    """Start headless Chromium from the given executable."""
    return playwright.chromium.launch(executable_path=executable_path, args=LAUNCH_ARGS, headless=True)
