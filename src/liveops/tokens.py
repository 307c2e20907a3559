"""Bearer tokens with roles (seed 6.4), stored hashed in a file beside the store.

A file rather than a table in the DuckDB store: the server holds the store's lock, and an operator must
still be able to create or revoke a token while it runs (the server notices the file change).
Tokens are 192-bit random strings, so a plain SHA-256 is a safe hash; the token itself is shown once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

# What each role may do: viewers see dashboards and aggregates, analysts also export a session's raw events,
# ingest tokens only write. Admin may do everything, including managing tokens.
ROLES: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest"}),
    "viewer": frozenset({"read"}),
    "analyst": frozenset({"read", "analyse"}),
    "admin": frozenset({"read", "analyse", "ingest", "admin"}),
}
PREFIX = "lo_"


class TokenError(ValueError):
    pass


@dataclass
class Token:
    id: str
    name: str
    role: str
    sha256: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def can(self, permission: str) -> bool:
        return self.active and permission in ROLES[self.role]


def tokens_path(db: str | Path) -> Path:
    return Path(str(db) + ".tokens.json")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class TokenStore:
    """The token file: read on demand (re-read when it changes on disk), written atomically with mode 0600."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._mtime: float | None = None
        self._tokens: list[Token] = []

    def _load(self) -> list[Token]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._mtime, self._tokens = None, []
            return self._tokens
        if mtime != self._mtime:
            data = orjson.loads(self.path.read_bytes())
            self._tokens = [Token(**t) for t in data.get("tokens", [])]
            self._mtime = mtime
        return self._tokens

    def _save(self, tokens: list[Token]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tokens.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps({"tokens": [asdict(t) for t in tokens]}, option=orjson.OPT_INDENT_2))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._mtime = None

    def list(self) -> list[Token]:
        return list(self._load())

    def create(self, role: str, name: str | None = None) -> tuple[Token, str]:
        """A new token of ``role``; returns it and the secret (shown once, never stored)."""
        if role not in ROLES:
            raise TokenError(f"未知角色 unknown role {role!r} (one of {', '.join(ROLES)})")
        tokens = self._load()
        secret = PREFIX + secrets.token_urlsafe(24)
        tid = "t" + secrets.token_hex(4)
        tok = Token(tid, name or f"{role}-{tid}", role, _hash(secret), _now())
        self._save([*tokens, tok])
        return tok, secret

    def revoke(self, id_or_name: str) -> Token:
        tokens = self._load()
        hits = [t for t in tokens if id_or_name in (t.id, t.name) and t.active]
        if not hits:
            raise TokenError(f"没有这个有效令牌 no active token with id or name {id_or_name!r}")
        if len(hits) > 1:
            raise TokenError(f"名称不唯一 several tokens are named {id_or_name!r}: revoke by id")
        hits[0].revoked_at = _now()
        self._save(tokens)
        return hits[0]

    def check(self, secret: str | None) -> Token | None:
        """The active token for a presented secret, else None (constant-time comparison)."""
        if not secret:
            return None
        h = _hash(secret)
        found = None
        for t in self._load():
            if hmac.compare_digest(t.sha256, h) and t.active:
                found = t
        return found
