"""Staff authentication on /api/v1/staff: bearer tokens, roles, and the staff rate limits.

`authenticate_staff`, the staff blueprint's before_request, looks the token up (once a
request, never cached beyond it, so a revocation acts at once on every instance), sets
`g.staff`, and spends a budget (see app/security/rate_limits.py):
- a valid token spends its account's STAFF_RATE_LIMITS, wherever it comes from;
- a request without one spends the client's STAFF_AUTH_FAILURE_LIMITS and is refused with
  401, or with 429 once that budget is used up, which stops guessing. A valid token never
  touches that budget, so a console left open with a revoked token cannot lock out the
  colleagues behind the same address.
`staff_required(role)` on each view answers 403 to a role below the one it needs.
The token is never logged; the request's log line gets staff_id, staff_name and staff_role.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import structlog
from flask import current_app, g, request

from app.errors import Forbidden, StaffUnauthorized
from app.security.rate_limits import RateLimits, client_network, enforce
from app.services import staff_accounts_service
from app.services.staff_accounts import ROLES, StaffMember


def authenticate_staff() -> None:
    """Refuse a request without a valid staff token, and spend the staff budgets (CORS preflights pass)."""
    if request.method == "OPTIONS":
        return
    limits: RateLimits = current_app.extensions["rate_limits"]
    staff = current_staff()
    if staff is None:
        enforce(limits.spend_staff_failure(client_network()))
        raise StaffUnauthorized()
    enforce(limits.spend_staff(staff.id))


def current_staff() -> StaffMember | None:
    """Return the active staff member whose token the request presents, or None; looked up once a request."""
    if "staff" not in g:
        staff = staff_accounts_service().authenticate(presented_token())
        if staff is not None:
            structlog.contextvars.bind_contextvars(staff_id=staff.id, staff_name=staff.name, staff_role=staff.role)
        g.staff = staff
    return g.staff


def presented_token() -> str:
    """Return the bearer token of the Authorization header, or "" when there is none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def staff_required(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let a view run only for staff whose role includes `role` ("agent": agents and admins; "admin")."""
    if role not in ROLES:
        raise ValueError(f"unknown staff role {role!r}; use one of {', '.join(ROLES)}")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None:
                raise StaffUnauthorized()
            if not staff.has_role(role):
                raise Forbidden()
            return view(*args, **kwargs)

        guarded.staff_role = role  # type: ignore[attr-defined]
        return guarded

    return decorate
