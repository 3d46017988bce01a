"""Remote commands on the wire: `P/cmd/{name}` in, `P/cmd/{name}/result` out (docs/mqtt.md).

Pure: no client, clock, database or logging. `check` turns one received message into either a
`Command` to run or a `Refusal` saying why not, in the order an attacker meets the walls:
size, JSON shape, known command, signature, allowed here, expiry. Whether the id was seen before
is the caller's question (it needs the database); so is whether the arguments make sense (each
command's own). Never raises on any input: a hostile payload is a refusal, not an exception.

Signing (shared with the dashboard, which signs): the HMAC-SHA256, keyed with the site's key
(UTF-8 bytes), of the canonical JSON of the command without `sig`: keys sorted, no spaces
(separators `,` and `:`), non-ASCII escaped as `\\uXXXX` (Python's `json.dumps(...,
sort_keys=True, separators=(",", ":"))`); its lowercase hex digest is `sig`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from telemetry import topics

NAMES = (
    "ping",
    "status",
    "support_summary",
    "alarm_ack",
    "backup_now",
    "report_regenerate",
    "maintenance_log",
    "resend",
    "live",
)
"""Every command edged knows."""
HARMLESS = ("ping", "status", "support_summary")
"""Allowed unless `[remote] allow` says otherwise: they read, change nothing, cost little."""
MAX_PAYLOAD = 8192
"""Bytes: a command is a few hundred; anything larger is refused before it is parsed."""
MAX_ID = 64
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SIG_PATTERN = re.compile(r"^[0-9a-f]{64}$")
KEYS = frozenset({"id", "expires", "args", "sig", "cmd"})

REASONS = {
    "too_large": ("commande trop longue", "command too large"),
    "malformed": ("commande mal formée", "malformed command"),
    "unknown": ("commande inconnue", "unknown command"),
    "unsigned": ("commande non signée", "unsigned command"),
    "bad_signature": ("signature invalide", "bad signature"),
    "not_allowed": ("commande non autorisée sur ce site", "command not allowed on this site"),
    "expired": ("commande expirée, non exécutée", "command expired, not run"),
    "too_far": ("expiration trop lointaine", "expiry too far ahead"),
    "clock_unsynced": (
        "horloge du site non synchronisée, seules ping, status et support_summary s'exécutent",
        "site clock not synchronised, only ping, status and support_summary run",
    ),
    "replayed": ("commande déjà reçue, non exécutée", "command already received, not run"),
    "bad_args": ("arguments invalides", "invalid arguments"),
    "not_found": ("introuvable", "not found"),
    "failed": ("la commande a échoué", "the command failed"),
    "unavailable": ("indisponible pour l'instant", "unavailable for now"),
    "busy": ("déjà en cours", "already running"),
}
"""Refusal and failure codes (the result's `error`) with their French and English words."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    id: str
    expires: float
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refusal:
    name: str
    id: str | None
    """The request's id when it could be read (so the dashboard can match the answer)."""
    error: str
    """A key of REASONS."""
    detail: str = ""


def command_filter(root: str) -> str:
    return f"{root}/cmd/+"


def result_topic(root: str, name: str) -> str:
    return f"{root}/cmd/{name}/result"


def name_of(topic: str, root: str) -> str | None:
    """The command's name from its topic (`P/cmd/{name}`), None for any other topic."""
    prefix = f"{root}/cmd/"
    if not topic.startswith(prefix):
        return None
    name = topic[len(prefix) :]
    return name if name and "/" not in name else None


def canonical(body: Mapping[str, Any]) -> bytes:
    """What is signed: the command without `sig`, keys sorted, compact (module docstring)."""
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def sign(body: Mapping[str, Any], key: str) -> str:
    """The hex HMAC-SHA256 of `canonical(body)` with `key`: what the dashboard puts in `sig`."""
    return hmac.new(key.encode("utf-8"), canonical(body), hashlib.sha256).hexdigest()


def check(
    name: str,
    payload: bytes,
    now: float,
    *,
    allowed: Collection[str],
    key: str | None,
    max_ttl: float,
) -> Command | Refusal:
    """The command in `payload` received on `P/cmd/{name}`, or why it must not run."""
    if len(payload) > MAX_PAYLOAD:
        return Refusal(name, None, "too_large", f"{len(payload)} bytes, at most {MAX_PAYLOAD}")
    try:
        body = json.loads(payload, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return Refusal(name, None, "malformed", f"not JSON: {str(exc)[:80]}")
    if not isinstance(body, dict):
        return Refusal(name, None, "malformed", "not a JSON object")
    raw_id = body.get("id")
    cmd_id = raw_id if isinstance(raw_id, str) and ID_PATTERN.match(raw_id) else None
    problem = _shape(body, cmd_id, name)
    if problem:
        return Refusal(name, cmd_id, "malformed", problem)
    assert cmd_id is not None
    if name not in NAMES:
        return Refusal(name, cmd_id, "unknown", f"known: {', '.join(NAMES)}")
    if key is not None:
        sig = body.get("sig")
        if sig is None:
            return Refusal(name, cmd_id, "unsigned", "this site requires signed commands")
        if not (isinstance(sig, str) and hmac.compare_digest(sig, sign(body, key))):
            return Refusal(name, cmd_id, "bad_signature")
    if name not in allowed:
        return Refusal(name, cmd_id, "not_allowed", f"allowed: {', '.join(allowed) or 'none'}")
    expires = float(body["expires"])
    if expires <= now:
        return Refusal(name, cmd_id, "expired", f"expired {now - expires:.0f} s ago")
    if expires > now + max_ttl:
        return Refusal(name, cmd_id, "too_far", f"expires in more than {max_ttl:.0f} s")
    return Command(name, cmd_id, expires, body.get("args", {}))


def _no_constant(text: str) -> None:
    """NaN and Infinity are not JSON (Python's parser takes them): refused like any bad JSON."""
    raise ValueError(f"{text} is not JSON")


def _shape(body: dict, cmd_id: str | None, name: str) -> str | None:
    """What is wrong with the command's form, or None."""
    extra = sorted(set(body) - KEYS)
    if extra:
        return f"unknown keys {extra[:5]!r:.100}"
    if cmd_id is None:
        return f"id: expected 1-{MAX_ID} characters of A-Z a-z 0-9 . _ : -"
    expires = body.get("expires")
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        return "expires: expected a unix time (number)"
    try:
        finite = math.isfinite(expires)
    except OverflowError:  # an integer of hundreds of digits
        finite = False
    if not finite:
        return "expires: expected a finite number"
    if not isinstance(body.get("args", {}), dict):
        return "args: expected a JSON object"
    sig = body.get("sig")
    if sig is not None and not (isinstance(sig, str) and SIG_PATTERN.match(sig)):
        return "sig: expected 64 lowercase hex digits"
    if "cmd" in body and body["cmd"] != name:
        return "cmd: does not name this topic's command"
    return None


def result_payload(
    cmd_id: str | None, ok: bool, result: Any = None, error: str | None = None, detail: str = ""
) -> bytes:
    """`{"id","ok","result"}` or `{"id","ok":false,"error","message","message_en"}` (compact;
    the messages are the reason in French and English, with `detail` appended)."""
    body: dict[str, Any] = {"id": cmd_id, "ok": ok}
    if ok:
        body["result"] = result
    else:
        code = error or "failed"
        fr, en = REASONS.get(code, REASONS["failed"])
        suffix = f" ({detail})" if detail else ""
        body.update(error=code, message=fr + suffix, message_en=en + suffix)
    return topics.json_payload(body)
