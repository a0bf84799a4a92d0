"""GET /api/v1/staff/me (who am I) and GET /api/v1/staff/accounts (every staff account, for admins)."""

from __future__ import annotations

from flask import Response, g, jsonify

from app.api.staff import staff_bp
from app.security.staff_auth import staff_required
from app.services import staff_accounts_service
from app.utils.timestamps import iso


@staff_bp.get("/me")
@staff_required("agent")
def me() -> Response:
    """Say whose token this is: the agent console checks a token with it at sign-in."""
    return jsonify(id=g.staff.id, name=g.staff.name, role=g.staff.role)


@staff_bp.get("/accounts")
@staff_required("admin")
def list_accounts() -> Response:
    """List every staff account, revoked ones included, oldest first; never a token or its hash."""
    return jsonify(
        accounts=[
            {
                "id": account.id,
                "name": account.name,
                "role": account.role,
                "created_at": iso(account.created_at),
                "revoked_at": iso(account.revoked_at),
            }
            for account in staff_accounts_service().accounts()
        ]
    )
