"""The FAQ data file: read it, validate it, and turn it into `FaqEntry` values.

Support teams edit `instance/faq.yaml` (or a `.json` file with the same shape) without
touching code. A bad file stops the app at start-up with a `FaqFileError` that names
the file, the entry (its id, or its position when the id is the problem) and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from app.services.faq import FaqEntry

FaqId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class FaqFileError(Exception):
    """The FAQ file is missing, unreadable or invalid; the message says where and why."""


class FaqEntryModel(BaseModel):
    """One entry as written in the file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: FaqId
    phrasings: list[Text] = Field(min_length=1)
    answer: Text
    tags: list[Text] = Field(default_factory=list)

    @field_validator("phrasings")
    @classmethod
    def phrasings_have_words(cls, phrasings: list[str]) -> list[str]:
        """Refuse a phrasing without a single letter or digit: it could never match anything."""
        for number, phrasing in enumerate(phrasings, start=1):
            if not any(char.isalnum() for char in phrasing):
                raise ValueError(f"phrasing {number} ({phrasing!r}) has no words")
        return phrasings


class FaqFileModel(BaseModel):
    """The whole file: a list of entries under `faqs`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    faqs: list[FaqEntryModel] = Field(min_length=1)


def load_faq(path: str | Path) -> tuple[FaqEntry, ...]:
    """Return the entries of a FAQ file; raise FaqFileError naming the bad entry and field."""
    path = Path(path)
    data = _read(path)
    try:
        parsed = FaqFileModel.model_validate(data)
    except ValidationError as error:
        raise FaqFileError(f"{path}: {_describe(error, data)}") from None
    seen: dict[str, int] = {}
    for number, entry in enumerate(parsed.faqs, start=1):
        if entry.id in seen:
            raise FaqFileError(
                f"{path}: entry {number} (id {entry.id!r}): id: duplicate of entry {seen[entry.id]}; ids must be unique"
            )
        seen[entry.id] = number
    return tuple(
        FaqEntry(id=entry.id, phrasings=tuple(entry.phrasings), answer=entry.answer, tags=tuple(entry.tags))
        for entry in parsed.faqs
    )


def resolve(path: str | Path, root: Path) -> Path:
    """Return the path itself if absolute, else the path under `root` (the project folder)."""
    path = Path(path)
    return path if path.is_absolute() else root / path


def _read(path: Path) -> Any:
    """Return the file's parsed YAML or JSON, chosen by its extension."""
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise FaqFileError(f"{path}: the FAQ file must end in .yaml, .yml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FaqFileError(f"{path}: no such FAQ file (set FAQ_FILE to the right path)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise FaqFileError(f"{path}: cannot read the FAQ file ({error.__class__.__name__}: {error})") from None
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise FaqFileError(f"{path}: not valid JSON (line {error.lineno}): {error.msg}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise FaqFileError(f"{path}: not valid YAML{where}: {problem}") from None


def _describe(error: ValidationError, data: Any) -> str:
    """Say in plain words which entry and field is wrong, from the first validation error."""
    first = error.errors()[0]
    location = list(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if len(location) < 2 or location[0] != "faqs" or not isinstance(location[1], int):
        field = ".".join(str(part) for part in location) or "the file"
        if field == "the file" and not isinstance(data, dict):
            return "the file must be a mapping with a 'faqs' list of entries"
        return f"{field}: {message}"
    number = location[1]
    raw = data["faqs"][number]
    entry_id = raw.get("id") if isinstance(raw, dict) else None
    name = f"entry {number + 1}" + (f" (id {entry_id!r})" if isinstance(entry_id, str) and entry_id else "")
    if len(location) == 2:
        return f"{name}: must be a mapping with id, phrasings, answer and optional tags"
    field = " ".join(f"item {part + 1}" if isinstance(part, int) else str(part) for part in location[2:])
    return f"{name}: {field}: {message}"
