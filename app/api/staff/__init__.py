"""The staff API, mounted at /api/v1/staff: agents and admins, each with a bearer token from `flask staff add`.

Not nested in the customer blueprint (v1): customer API keys (API_KEYS) and budgets
(RATE_LIMITS, API_KEY_RATE_LIMITS) do not apply here. Every route needs a valid staff
token and spends the staff budgets (app/security/staff_auth.py); each view also declares
the role it needs with `staff_required`.
"""

from __future__ import annotations

from flask import Blueprint

from app.security.rate_limits import add_rate_limit_headers
from app.security.staff_auth import authenticate_staff

staff_bp = Blueprint("staff", __name__)
staff_bp.before_request(authenticate_staff)
staff_bp.after_request(add_rate_limit_headers)

from app.api.staff import accounts, faqs, handoffs, reports, webhooks  # noqa: E402,F401  (registers the routes)
