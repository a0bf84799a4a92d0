"""A helper for the spec-driven tests: drive operations with schemathesis cases and check every answer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import given
from hypothesis import strategies as st


def call_every_operation(
    operations: Sequence[Any],
    mode: Any,
    headers: dict[str, str],
    settings: Callable[[Any], Any],
    targets: st.SearchStrategy[Any] = st.none(),
    prepare: Callable[[Any, Any, Any], Any] = lambda operation, case, target: case,
    **validation: Any,
) -> set[str]:
    """Call each operation with generated cases (`prepare` may aim a case at a drawn target); return those called.

    Every answer must match the spec (`validation`: call_and_validate's options, e.g.
    excluded_checks) and none may be a 5xx.
    """
    called: Counter[str] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy(mode), target=targets)
        @settings
        def call_and_validate(case: Any, target: Any) -> None:
            response = prepare(operation, case, target).call_and_validate(headers=headers, **validation)
            assert response.status_code < 500
            called[operation.label] += 1

        call_and_validate()
    return set(called)


def hostile_text(samples: Sequence[str], around: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """Return strings that carry one of the hostile samples between a little ordinary text (`around`)."""
    around = st.text(max_size=3) if around is None else around
    return st.builds(lambda before, bad, after: before + bad + after, around, st.sampled_from(samples), around)


def without_surrogates(text: str) -> str:
    """Return the text without lone surrogates, which a URL cannot carry (for query arguments)."""
    return "".join(char for char in text if not "\ud800" <= char <= "\udfff")
