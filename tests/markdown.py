"""Read the project's Markdown documents the way GitHub shows them: tables, links and heading anchors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"`[^`]*`")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True)
class Table:
    """A pipe table: the heading it sits under, its header cells and its rows of cells."""

    heading: str
    header: list[str]
    rows: list[list[str]]


def documents() -> list[Path]:
    """Return the README and every Markdown file under docs/."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose_lines(text: str) -> list[tuple[str, str]]:
    """Return (line, current heading) for every line outside fenced code blocks."""
    lines, heading, fenced = [], "", False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        found = _HEADING.match(line)
        if found:
            heading = heading_text(found.group(2))
        lines.append((line, heading))
    return lines


def heading_text(raw: str) -> str:
    """Return a heading as GitHub renders it to text: no code marks, links reduced to their text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", raw)
    text = re.sub(r"\\(.)", r"\1", text.replace("`", ""))
    return text.replace("*", "").strip()


def headings(text: str) -> list[str]:
    """Return the text of every heading, in order."""
    return [heading_text(found.group(2)) for line, _ in prose_lines(text) if (found := _HEADING.match(line))]


def anchors(text: str) -> set[str]:
    """Return the #anchors GitHub gives the headings (github-slugger: duplicates get -1, -2, ...)."""
    seen: dict[str, int] = {}
    result = set()
    for heading in headings(text):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def links(text: str) -> list[str]:
    """Return the target of every link and image outside code."""
    targets = []
    for line, _ in prose_lines(text):
        targets.extend(_LINK.findall(_CODE_SPAN.sub("``", line)))
    return targets


def tables(text: str) -> list[Table]:
    """Return every pipe table, with the heading it is under."""
    found: list[Table] = []
    block: list[tuple[str, str]] = []
    for line, heading in [*prose_lines(text), ("", "")]:
        if line.lstrip().startswith("|"):
            block.append((line, heading))
            continue
        if len(block) >= 2 and re.fullmatch(r"\|?[\s:|-]+\|?", block[1][0].strip()):
            cells = [_cells(row) for row, _ in block]
            found.append(Table(heading=block[0][1], header=cells[0], rows=cells[2:]))
        block = []
    return found


def _cells(row: str) -> list[str]:
    """Split a table row into its cells; a | inside a code span or escaped as \\| does not split."""
    shielded = _CODE_SPAN.sub(lambda span: span.group().replace("|", "\0"), row.strip().strip("|"))
    return [cell.strip().replace("\0", "|") for cell in _CELL_SPLIT.split(shielded)]


def code_names(cell: str) -> list[str]:
    """Return the names written as code in a table cell (`A`, `B`)."""
    return re.findall(r"`([^`]+)`", cell)
