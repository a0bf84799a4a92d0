"""The FAQ file format: read and validate a file, write one, and validate one entry on its own.

The knowledge base lives in the database; a file (`instance/faq.yaml`, or a `.json` file
with the same shape) seeds an empty database (FAQ_FILE) and is what `flask faq import`
reads and `flask faq export` writes: the `faqs` and, optionally, the `concepts` their words
fold into. A bad file raises `FaqFileError` naming the file, the entry or concept (its
name, or its position when the name is the problem) and the field; a bad entry sent to
the staff API raises `FaqEntryError` naming the field. Both use the same models.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from app.services.faq import FaqEntry, KnowledgeBase
from app.services.faq_text import Concept

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: ten times faster

FaqId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
ConceptName = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _have_words(texts: list[str], kind: str) -> list[str]:
    """Return the texts, or raise naming the first one without a single letter or digit (it could never match)."""
    for number, text in enumerate(texts, start=1):
        if not any(char.isalnum() for char in text):
            raise ValueError(f"{kind} {number} ({text!r}) has no words")
    return texts


Phrasings = Annotated[list[Text], Field(min_length=1), AfterValidator(lambda texts: _have_words(texts, "phrasing"))]
Phrases = Annotated[list[Text], Field(min_length=1), AfterValidator(lambda texts: _have_words(texts, "phrase"))]


# Per section of the file: how an item is named in messages, the field holding its name, its shape.
_SECTIONS = {
    "faqs": ("entry", "id", "id, phrasings, answer and optional tags"),
    "concepts": ("concept", "concept", "concept, phrases and optional aspect"),
}


# What an exported file starts with (YAML only): comments do not survive the database.
EXPORT_HEADER = (
    "# GreenGrocer Foods FAQ knowledge base, written by `flask faq export`.\n"
    "# Load it with `flask faq import PATH`; comments are not kept by the database.\n"
)


class FaqFileError(Exception):
    """The FAQ file is missing, unreadable or invalid; the message says where and why."""


class FaqEntryError(ValueError):
    """One entry is invalid: `field` names the field (or "body"), the message says what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class _FileModel(BaseModel):
    """A part of the file: strict types, no fields beyond the documented ones."""

    model_config = ConfigDict(extra="forbid", strict=True)


class FaqEntryModel(_FileModel):
    """One entry as written in the file."""

    id: FaqId
    phrasings: Phrasings
    answer: Text
    tags: list[Text] = Field(default_factory=list)


class ConceptModel(_FileModel):
    """One concept as written in the file."""

    concept: ConceptName
    phrases: Phrases
    aspect: bool = False


class FaqFileModel(_FileModel):
    """The whole file: a list of entries under `faqs`, and the concepts their words fold into."""

    faqs: list[FaqEntryModel] = Field(min_length=1)
    concepts: list[ConceptModel] = Field(default_factory=list)


def load_faq_file(path: str | Path) -> KnowledgeBase:
    """Return the entries and concepts of a FAQ file; raise FaqFileError naming the bad item and field."""
    path = Path(path)
    data = _read(path)
    try:
        parsed = FaqFileModel.model_validate(data)
    except ValidationError as error:
        raise FaqFileError(f"{path}: {_describe(error, data)}") from None
    _refuse_duplicates(path, "faqs", [entry.id for entry in parsed.faqs])
    _refuse_duplicates(path, "concepts", [concept.concept for concept in parsed.concepts])
    return KnowledgeBase(
        entries=tuple(_entry(entry) for entry in parsed.faqs),
        concepts=tuple(
            Concept(name=concept.concept, phrases=tuple(concept.phrases), aspect=concept.aspect)
            for concept in parsed.concepts
        ),
    )


def parse_entry(data: Mapping[str, Any]) -> FaqEntry:
    """Return one entry validated as the file validates it; raise FaqEntryError naming the field."""
    try:
        return _entry(FaqEntryModel.model_validate(data))
    except ValidationError as error:
        first = error.errors()[0]
        location = list(first["loc"])
        field = str(location[0]) if location else "body"
        problem = first["msg"].removeprefix("Value error, ")
        if len(location) > 1:
            problem = f"{_field_path(location[1:])}: {problem}"
        raise FaqEntryError(field, problem) from None


def write_faq_file(path: str | Path, knowledge_base: KnowledgeBase) -> None:
    """Write the entries and concepts as a FAQ file (YAML, or JSON by its extension), replacing it whole.

    A reader never sees half a file: the text goes to a temporary file beside it first.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise FaqFileError(f"{path}: the FAQ file must end in .yaml, .yml or .json")
    text = faq_file_text(knowledge_base, as_json=suffix == ".json")
    temporary: str | None = None
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as output:
            output.write(text)
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise FaqFileError(f"{path}: cannot write the FAQ file ({error.__class__.__name__}: {error})") from None


def faq_file_text(knowledge_base: KnowledgeBase, *, as_json: bool = False) -> str:
    """Return the knowledge base as the text of a FAQ file; the same knowledge base always gives the same text."""
    data = file_data(knowledge_base)
    if as_json:
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return EXPORT_HEADER + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def file_data(knowledge_base: KnowledgeBase) -> dict[str, Any]:
    """Return the knowledge base in the file's shape; optional fields only when they say something."""
    faqs = []
    for entry in knowledge_base.entries:
        item: dict[str, Any] = {"id": entry.id}
        if entry.tags:
            item["tags"] = list(entry.tags)
        faqs.append({**item, "phrasings": list(entry.phrasings), "answer": entry.answer})
    data: dict[str, Any] = {"faqs": faqs}
    if knowledge_base.concepts:
        data["concepts"] = [
            {"concept": concept.name, "phrases": list(concept.phrases), **({"aspect": True} if concept.aspect else {})}
            for concept in knowledge_base.concepts
        ]
    return data


def _entry(model: FaqEntryModel) -> FaqEntry:
    return FaqEntry(id=model.id, phrasings=tuple(model.phrasings), answer=model.answer, tags=tuple(model.tags))


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
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.load(text, Loader=YAML_LOADER)
    except json.JSONDecodeError as error:
        raise FaqFileError(f"{path}: not valid JSON (line {error.lineno}): {error.msg}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise FaqFileError(f"{path}: not valid YAML{where}: {problem}") from None


def _refuse_duplicates(path: Path, section: str, names: list[str]) -> None:
    """Raise FaqFileError at the first entry id or concept name of the section used twice."""
    kind, key, _ = _SECTIONS[section]
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if name in seen:
            raise FaqFileError(
                f"{path}: {_item(section, number, name)}: {key}: duplicate of {kind} {seen[name]}; "
                f"{key}s must be unique"
            )
        seen[name] = number


def _item(section: str, number: int, label: Any) -> str:
    """Name an item of a section in messages: its position and, when it has a usable one, its name."""
    kind, key, _ = _SECTIONS[section]
    if not isinstance(label, str) or not label:
        return f"{kind} {number}"
    return f"{kind} {number} ({'id ' if key == 'id' else ''}{label!r})"


def _describe(error: ValidationError, data: Any) -> str:
    """Say in plain words which entry or concept and which field is wrong, from the first validation error."""
    first = error.errors()[0]
    location = list(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if len(location) < 2 or location[0] not in _SECTIONS or not isinstance(location[1], int):
        field = ".".join(str(part) for part in location) or "the file"
        if field == "the file" and not isinstance(data, dict):
            return "the file must be a mapping with a 'faqs' list of entries"
        return f"{field}: {message}"
    section, number = location[0], location[1]
    _, key, shape = _SECTIONS[section]
    raw = data[section][number]
    name = _item(section, number + 1, raw.get(key) if isinstance(raw, dict) else None)
    if len(location) == 2:
        return f"{name}: must be a mapping with {shape}"
    return f"{name}: {_field_path(location[2:])}: {message}"


def _field_path(location: list[Any]) -> str:
    """Name a place inside an item in words: "phrasings item 2"."""
    return " ".join(f"item {part + 1}" if isinstance(part, int) else str(part) for part in location)
