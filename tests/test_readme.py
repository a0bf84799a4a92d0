"""The README is the first screen: short, its test command readable by CI, linking the reference in docs/."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.markdown import DOCS, README, ROOT, links, tables

MAX_LINES = 300


def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_the_readme_fits_its_line_budget():
    assert len(readme().splitlines()) <= MAX_LINES


def test_the_readme_links_every_document_in_docs():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(readme())}

    assert set(DOCS.glob("*.md")) - linked == set()


def test_the_readme_shows_the_chat_page_screenshot():
    assert "docs/chat-page.png" in links(readme())
    assert (DOCS / "chat-page.png").stat().st_size > 10_000


@pytest.mark.skipif(shutil.which("awk") is None, reason="awk is not installed (.ci/run needs it)")
def test_ci_reads_the_test_command_from_the_readme():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    program = re.search(r"awk '([^']+)' README\.md", script).group(1)

    command = subprocess.run(["awk", program, "README.md"], cwd=ROOT, capture_output=True, text=True, check=True)

    assert command.stdout.strip() == (
        "python3 -m venv .venv && .venv/bin/pip install -q -r requirements-dev.txt && .venv/bin/python -m pytest"
    )


def pinned_packages() -> set[str]:
    """Return the normalised name of every package pinned in the requirements files."""
    names = set()
    for path in (ROOT / "requirements.txt", ROOT / "requirements-dev.txt"):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-"):
                names.add(normalise(re.split(r"[\s\[=<>!~;]", line)[0]))
    return names


def normalise(name: str) -> str:
    """Return a package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_readme_says_why_each_pinned_dependency_is_there():
    table = next(table for table in tables(readme()) if table.heading == "Dependencies")
    explained = {
        normalise(re.sub(r"\[.*?\]|\(dev\)", "", name).strip())
        for row in table.rows
        for name in row[0].split(",")
    }

    assert explained == pinned_packages()
    assert all(row[1] for row in table.rows)
