"""No module of app/ reaches into another object's private attributes (`obj._name`).

Classes talk through public methods; a dependency's internals (`transport._pool`,
`pool._network_backend`) change without notice in any release. Allowed: `self._x` and
`cls._x` (a class's own state), `super()._x` and `type(self)._x`, a private name of one of
our own modules (`module._x` where `module` was imported from `app`), and namedtuple's
public API (`_replace`, `_asdict`, ...), whose names start with an underscore.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})
# Found when the check was written, in code its owners are changing; delete a line once it is fixed.
KNOWN: set[tuple[str, str]] = set()


def private_accesses(source: str) -> list[tuple[int, str]]:
    """Return (line, expression) for every private attribute read on something that is not ours to read."""
    tree = ast.parse(source)
    modules = our_modules(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
            continue
        if node.attr in NAMEDTUPLE_API or is_own(node.value, modules):
            continue
        found.append((node.lineno, ast.unparse(node)))
    return found


def is_own(base: ast.expr, modules: set[str]) -> bool:
    """Return whether `base` is the class itself (self, cls, super(), type(self)) or one of our modules."""
    if isinstance(base, (ast.Name, ast.Attribute)):
        return ast.unparse(base) in ("self", "cls", *modules)
    return isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id in ("super", "type")


def our_modules(tree: ast.Module) -> set[str]:
    """Return the (dotted) names by which a module refers to modules of the `app` package."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.asname or alias.name for alias in node.names if alias.name.startswith("app")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app"):
            folder = APP.parent.joinpath(*(node.module or "").split("."))
            names |= {alias.asname or alias.name for alias in node.names
                      if (folder / f"{alias.name}.py").exists() or (folder / alias.name).is_dir()}
    return names


def test_app_reads_no_private_attribute_of_another_object():
    found = {
        (str(path.relative_to(APP.parent)), expression)
        for path in sorted(APP.rglob("*.py"))
        for _, expression in private_accesses(path.read_text(encoding="utf-8"))
    }

    assert found - KNOWN == set(), "read it through a public method or attribute instead"
    assert KNOWN - found == set(), "fixed: delete it from KNOWN"


def test_the_check_tells_a_dependency_s_internals_from_our_own_state():
    source = """
import httpx2
import app.metrics
from app.services import llm
from app.services.llm import DeepSeekClient

class Transport(httpx2.HTTPTransport):
    def __init__(self, other):
        super()._init()
        self._pool = other._pool
        self.backend = self._pool._network_backend
        type(self)._count = cls._count = 0

def helper(point, client: DeepSeekClient):
    point._replace(x=1)
    llm._retry_after(app.metrics._registry, httpx2._client)
    return client._connection, point.__class__
"""

    assert private_accesses(source) == [
        (10, "other._pool"),
        (11, "self._pool._network_backend"),
        (16, "httpx2._client"),
        (17, "client._connection"),
    ]
