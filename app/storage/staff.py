"""The staff accounts: add, find by name or by token hash, list, revoke, replace a token hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.storage.models import StaffAccount, utcnow

ACCOUNTS = StaffAccount.__table__
ACTIVE_BY_TOKEN_HASH = select(ACCOUNTS.c.id, ACCOUNTS.c.name, ACCOUNTS.c.role).where(
    ACCOUNTS.c.token_hash == bindparam("token_hash"), ACCOUNTS.c.revoked_at.is_(None)
)


class StaffStore:
    """Keep staff accounts; every write is committed at once, and only the token's hash is ever stored."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, name: str, name_key: str, role: str, token_hash: str) -> StaffAccount | None:
        """Store a new account; return None when `name_key` is taken (the unique index decides, races too)."""
        account = StaffAccount(name=name, name_key=name_key, role=role, token_hash=token_hash, created_at=utcnow())
        self.session.add(account)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            return None
        return account

    def find(self, name_key: str) -> StaffAccount | None:
        """Return the account with this name key, revoked or not, or None."""
        return self.session.scalar(select(StaffAccount).where(StaffAccount.name_key == name_key))

    def find_active(self, token_hash: str) -> Row | None:
        """Return the id, name and role of the unrevoked account with this token hash, or None.

        The session's transaction ends here (a rollback: call this before any write of
        the request, as authentication is), so that a request that goes on for long (a
        stream, say) does not hold a pooled connection because it was authenticated.
        """
        found = self.session.connection().execute(ACTIVE_BY_TOKEN_HASH, {"token_hash": token_hash}).first()
        self.session.rollback()
        return found

    def all(self) -> list[StaffAccount]:
        """Return every account, revoked ones included, oldest first."""
        return list(self.session.scalars(select(StaffAccount).order_by(StaffAccount.id)))

    def revoke(self, account: StaffAccount, when: datetime) -> bool:
        """Mark the account revoked, unless it already is; return whether this call revoked it."""
        return self._update_unrevoked(account, revoked_at=when)

    def replace_token_hash(self, account: StaffAccount, token_hash: str) -> bool:
        """Give an unrevoked account a new token hash (the old token dies); return whether it was unrevoked."""
        return self._update_unrevoked(account, token_hash=token_hash)

    def _update_unrevoked(self, account: StaffAccount, **values: object) -> bool:
        """Set columns of the account if it is not revoked (checked in the UPDATE itself); commit."""
        unrevoked = (StaffAccount.id == account.id) & StaffAccount.revoked_at.is_(None)
        updated = self.session.execute(update(StaffAccount).where(unrevoked).values(**values)).rowcount
        self.session.commit()
        return bool(updated)
