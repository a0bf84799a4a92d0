"""`flask faq check [PATH]` and `flask faq ask "<question>"` (import and export: tests/test_faq_import_export.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_check_validates_the_configured_file(runner):
    result = runner.invoke(args=["faq", "check"])

    assert result.exit_code == 0
    assert result.output.startswith("OK: 12 entries, ")
    assert " concepts in " in result.output and "instance/faq.yaml" in result.output


def test_check_names_the_bad_entry_and_exits_1(runner, tmp_path):
    path = tmp_path / "draft.yaml"
    path.write_text("faqs:\n  - id: refunds\n    phrasings: []\n    answer: Yes.\n", encoding="utf-8")

    result = runner.invoke(args=["faq", "check", str(path)])

    assert result.exit_code == 1
    assert "Error:" in result.output
    assert "entry 1 (id 'refunds'): phrasings" in result.output


def test_check_names_the_bad_concept_and_exits_1(runner, tmp_path):
    path = tmp_path / "draft.yaml"
    path.write_text(
        "faqs:\n  - id: pay\n    phrasings: ['How do I pay?']\n    answer: By card.\n"
        "concepts:\n  - concept: pay\n    phrases: [pay]\n    aspect: maybe\n",
        encoding="utf-8",
    )

    result = runner.invoke(args=["faq", "check", str(path)])

    assert result.exit_code == 1
    assert "concept 1 ('pay'): aspect: Input should be a valid boolean" in result.output


def test_check_takes_paths_relative_to_the_project(runner):
    result = runner.invoke(args=["faq", "check", "tests/data/missing.yaml"])

    assert result.exit_code == 1
    assert f"{ROOT / 'tests' / 'data' / 'missing.yaml'}: no such FAQ file" in result.output


def test_ask_shows_scores_bars_and_the_verdict(runner):
    result = runner.invoke(args=["faq", "ask", "what time do the drivers come", "--limit", "2"])

    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "knowledge base: version 1, 12 entries, sent whole to DeepSeek"
    assert lines[1] == "thresholds: direct answer >= 0.46, related (grounding, fallback) >= 0.40"
    assert lines[2].split()[1:3] == ["direct", "delivery-hours:"]
    assert len(lines) == 5
    assert lines[-1] == "verdict: answered from the FAQ (delivery-hours), DeepSeek is not called"


def test_ask_says_when_a_question_goes_to_deepseek_with_the_whole_knowledge_base(runner):
    result = runner.invoke(args=["faq", "ask", "the strawberries were moldy"])

    assert " related  damaged-missing-items:" in result.output
    assert result.output.splitlines()[-1] == (
        "verdict: goes to DeepSeek with the whole knowledge base; if DeepSeek fails, answered from damaged-missing-items"
    )


def test_ask_says_when_a_question_goes_to_deepseek_with_facts(make_app):
    result = make_app(KB_PROMPT_MAX_CHARS=0).test_cli_runner().invoke(args=["faq", "ask", "the strawberries were moldy"])

    assert result.output.splitlines()[0] == (
        "knowledge base: version 1, 12 entries, too large to send whole (KB_PROMPT_MAX_CHARS)"
    )
    assert result.output.splitlines()[-1] == (
        "verdict: goes to DeepSeek with store facts from damaged-missing-items; "
        "if DeepSeek fails, answered from damaged-missing-items"
    )


@pytest.mark.parametrize(("max_chars", "grounding"), [(16000, "with the whole knowledge base"), (0, "without store facts")])
def test_ask_says_when_nothing_is_related(make_app, max_chars, grounding):
    runner = make_app(KB_PROMPT_MAX_CHARS=max_chars).test_cli_runner()

    result = runner.invoke(args=["faq", "ask", "do you sell organic kale"])

    assert result.output.splitlines()[-1] == (
        f"verdict: goes to DeepSeek {grounding}; if DeepSeek fails, its error is returned"
    )


def test_ask_marks_entries_below_both_bars(runner):
    result = runner.invoke(args=["faq", "ask", "wat time do the drivers come", "--limit", "5"])

    assert any(line.split()[1] == "none" for line in result.output.splitlines()[2:-1])


@pytest.mark.slow  # a fresh interpreter imports the whole app
def test_the_documented_command_line_works():
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "run", "faq", "check"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "LOG_TO_STDOUT": "false", "LOG_FILE": ""},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 12 entries")
