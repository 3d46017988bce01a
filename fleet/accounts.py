"""Technicians' accounts and web sessions, in PostgreSQL.

Passwords are hashed with scrypt (stdlib `hashlib.scrypt`: memory-hard, no dependency), each with
its own salt, and compared in constant time. A session is a random token in an HttpOnly cookie;
the database keeps only its SHA-256, so reading the table opens no session. Each session has its
own CSRF token, which every form posts back. Nothing here logs a password or a token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import psycopg

# n=2**14, r=8: 16 MiB and ~50 ms per hash on the server; enough to make a stolen table slow to
# guess, cheap enough for a login
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # scrypt takes anything, but a megabyte "password" is an attack
SESSION_DAYS = 7
LANGS = ("fr", "en")


class AccountError(ValueError):
    """A username or password that cannot be used; the message says why (in English)."""


@dataclass(frozen=True)
class Session:
    username: str
    csrf: str
    lang: str


def hash_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or len(password) > MAX_PASSWORD:
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:  # a damaged row: no login, never an exception in the login page
        return False
    return hmac.compare_digest(got.hex(), digest)


# a hash to check against when the user does not exist, so both cases take the same time
_DUMMY = hash_password("x" * MIN_PASSWORD)


def add_user(conn: psycopg.Connection, username: str, password: str, lang: str = "fr") -> None:
    """Create an account, or set a new password (and language) for an existing one."""
    if not USERNAME.match(username):
        raise AccountError("a username is 1 to 64 letters, digits, '.', '_' or '-'")
    if lang not in LANGS:
        raise AccountError(f"language is one of {', '.join(LANGS)}")
    with conn.transaction():
        conn.execute(
            "INSERT INTO users (username, password_hash, lang) VALUES (%s, %s, %s)"
            " ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,"
            " lang = excluded.lang, disabled = false",
            (username, hash_password(password), lang),
        )
        # a new password ends the sessions opened with the old one
        conn.execute("DELETE FROM web_sessions WHERE username = %s", (username,))


def authenticate(conn: psycopg.Connection, username: str, password: str) -> str | None:
    """The account's language if the password is right, else None (same cost either way)."""
    row = conn.execute(
        "SELECT password_hash, lang FROM users WHERE username = %s AND NOT disabled",
        (username,),
    ).fetchone()
    if row is None:
        check_password(password, _DUMMY)
        return None
    return row[1] if check_password(password, row[0]) else None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(conn: psycopg.Connection, username: str) -> str:
    """A new session's cookie token."""
    token = secrets.token_urlsafe(32)
    with conn.transaction():
        conn.execute("DELETE FROM web_sessions WHERE expires_at < now()")
        conn.execute(
            "INSERT INTO web_sessions (token_hash, username, csrf, expires_at)"
            " VALUES (%s, %s, %s, now() + %s)",
            (_token_hash(token), username, secrets.token_urlsafe(24), timedelta(SESSION_DAYS)),
        )
    return token


def find_session(conn: psycopg.Connection, token: str) -> Session | None:
    if not token or len(token) > 100:
        return None
    row = conn.execute(
        "SELECT s.username, s.csrf, u.lang FROM web_sessions s JOIN users u USING (username)"
        " WHERE s.token_hash = %s AND s.expires_at > now() AND NOT u.disabled",
        (_token_hash(token),),
    ).fetchone()
    return Session(row[0], row[1], row[2]) if row else None


def close_session(conn: psycopg.Connection, token: str) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM web_sessions WHERE token_hash = %s", (_token_hash(token),))
