"""Staff accounts: names, roles, and the bearer tokens that identify agents and admins.

A token is `ggs_` and 43 characters of `secrets.token_urlsafe(32)` (256 random bits);
the prefix lets secret scanners recognise a leaked one. Only its SHA-256 is stored and
looked up (a unique index). No salt or slow hash is needed: those protect guessable
secrets such as passwords, and nobody can search 2**256 tokens for one whose hash
matches. For the same reason the lookup by hash needs no constant-time comparison:
timing could at most tell how a guess's hash compares with a stored hash, which says
nothing about the token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass

import structlog

from app.storage.models import StaffAccount, utcnow
from app.storage.staff import StaffStore

log = structlog.get_logger(__name__)

ROLES = ("agent", "admin")  # each role may do everything the roles before it may
TOKEN_PREFIX = "ggs_"
MAX_TOKEN_CHARS = 128  # longer is not one of ours: refused without a database query
MAX_NAME_CHARS = 64


class StaffAccountError(Exception):
    """A staff account could not be added or changed; the message says why, for the person at the CLI."""


class InvalidStaffName(StaffAccountError):
    """The name is empty, too long, or has characters that cannot be shown."""


class StaffNameTaken(StaffAccountError):
    """Another account, revoked or not, has this name (whatever the case)."""


class StaffNotFound(StaffAccountError):
    """No account has this name."""


class StaffRevoked(StaffAccountError):
    """The account is revoked, and revoked accounts stay so."""


@dataclass(frozen=True)
class StaffMember:
    """Who an authenticated staff request comes from: what views need, and nothing secret."""

    id: int
    name: str
    role: str

    def has_role(self, role: str) -> bool:
        """Return whether this member may act as `role` (an admin may do all an agent may)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def display_name(raw: str) -> str:
    """Return the name as customers will see it: trimmed, runs of spaces made one, NFC; or raise InvalidStaffName."""
    name = re.sub(" {2,}", " ", unicodedata.normalize("NFC", raw.strip()))
    if not name:
        raise InvalidStaffName("The name is empty; give the name customers should see, e.g. 'Dana'.")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidStaffName(f"The name is {len(name)} characters long; at most {MAX_NAME_CHARS} are allowed.")
    if not name.isprintable():
        raise InvalidStaffName("The name may hold letters, digits, punctuation and spaces, but no tabs, "
                               "line breaks or invisible control characters.")
    return name


def name_key(name: str) -> str:
    """Return what makes two names the same name: their case-folded form ('Dana' and 'DANA' are one)."""
    return name.casefold()


def new_token() -> str:
    """Return a new random staff token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Return the hex SHA-256 of a token: what is stored and looked up instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


class StaffAccounts:
    """Add, list, revoke and rotate staff accounts, and tell who presents a token."""

    def __init__(self, store: StaffStore) -> None:
        self.store = store

    def add(self, name: str, role: str) -> tuple[StaffAccount, str]:
        """Create an account; return it with its token, which exists nowhere else from now on."""
        if role not in ROLES:
            raise StaffAccountError(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
        name = display_name(name)
        token = new_token()
        account = self.store.add(name, name_key(name), role, token_hash(token))
        if account is None:
            taken = self.store.find(name_key(name))
            raise StaffNameTaken(f"A staff account named {taken.name if taken else name!r} already exists; "
                                 "names are unique whatever their case, revoked accounts included.")
        log.info("staff_account_added", staff_id=account.id, staff_name=account.name, staff_role=account.role)
        return account, token

    def get(self, name: str) -> StaffAccount:
        """Return the account with this name (any case), revoked or not; raise StaffNotFound if none."""
        account = self.store.find(name_key(display_name(name)))
        if account is None:
            raise StaffNotFound(f"No staff account is named {name.strip()!r}; `flask staff list` shows them all.")
        return account

    def accounts(self) -> list[StaffAccount]:
        """Return every account, revoked ones included, oldest first."""
        return self.store.all()

    def revoke(self, name: str) -> tuple[StaffAccount, bool]:
        """Revoke an account, so its token fails from the next request on; return it and whether it was active."""
        account = self.get(name)
        revoked = self.store.revoke(account, utcnow())
        if revoked:
            log.info("staff_account_revoked", staff_id=account.id, staff_name=account.name)
        return account, revoked

    def rotate(self, name: str) -> tuple[StaffAccount, str]:
        """Give an active account a new token, killing the old one; return the account and the new token."""
        account = self.get(name)
        token = new_token()
        if not self.store.replace_token_hash(account, token_hash(token)):
            raise StaffRevoked(f"{account.name}'s account is revoked, and revoked accounts stay revoked; "
                               "add a new account (under another name: this one stays taken).")
        log.info("staff_token_rotated", staff_id=account.id, staff_name=account.name)
        return account, token

    def authenticate(self, token: str) -> StaffMember | None:
        """Return the active staff member whose token this is, or None (never cached: a revocation acts at once)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
            return None
        found = self.store.find_active(token_hash(token))
        return StaffMember(id=found.id, name=found.name, role=found.role) if found is not None else None
