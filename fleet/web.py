"""`edged-fleet web`: the technicians' dashboard (Flask, served by waitress).

Pages are rendered on the server (Jinja2) and light: no framework in the browser, one small
stylesheet, and on a site page only uPlot (vendored in fleet/static/, ~50 KB) and its data. Every
page but the login needs a session; every form carries the session's CSRF token (the login form
a double-submit cookie's). Every refusal (no session, bad CSRF, bad parameter, too large) is a
clean 4xx page, logged and counted in `collector_counters` under the collector name `web`.

SQL lives in fleet/queries.py and fleet/accounts.py; this module only routes and renders.
"""

from __future__ import annotations

import gzip
import hmac
import logging
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from flask import Flask, Response, abort, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from fleet import accounts, commands, queries
from fleet.texts import ago, duration, text

log = logging.getLogger(__name__)

SESSION_COOKIE = "edged_session"
LOGIN_COOKIE = "edged_login"
LANG_COOKIE = "edged_lang"
SITE_ID = re.compile(r"^[^/#+\x00-\x1f]{1,128}$")  # an MQTT topic level, bounded
MAX_PARAM = 128
MAX_COMMENT = 500
LIVE_MINUTES = (5, 15, 60)
"""What the site page's "live" buttons ask a frugal site for (docs/mqtt.md, `live`)."""
LIVE_TTL_S = 300
"""A `live` request not run within 5 minutes is worth nothing: the site refuses it as expired."""
PUBLIC = {"login", "static"}


@dataclass(frozen=True)
class WebSettings:
    dsn: str
    prefix: str = "edged"
    broker: commands.BrokerSettings | None = None
    ack_ttl_s: float = commands.ACK_TTL_S
    silent_after_s: float = 240.0
    secure_cookies: bool = False  # true behind TLS (a reverse proxy): cookies never go in clear
    extra: dict[str, Any] = field(default_factory=dict)


class _Connections(threading.local):
    conn: psycopg.Connection | None = None


GZIP_MIN = 1400  # under one TCP segment, compressing gains nothing


def _compress(response: Response) -> None:
    """gzip pages and chart data for the 3G link (the overview of 1,500 sites: 687 KB to 41 KB).

    Static files stream from disk (direct passthrough) and are cached a week instead.
    """
    if (
        response.direct_passthrough
        or response.status_code != 200
        or "gzip" not in request.headers.get("Accept-Encoding", "")
        or "Content-Encoding" in response.headers
    ):
        return
    body = response.get_data()
    if len(body) < GZIP_MIN:
        return
    response.set_data(gzip.compress(body, compresslevel=6))
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"


def create_app(settings: WebSettings, publisher: commands.CommandPublisher | None = None) -> Flask:
    here = Path(__file__).parent
    app = Flask(
        __name__, template_folder=str(here / "templates"), static_folder=str(here / "static")
    )
    app.config.update(
        MAX_CONTENT_LENGTH=64 * 1024,
        MAX_FORM_MEMORY_SIZE=16 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=7 * 86400,
    )
    local = _Connections()
    if publisher is None and settings.broker is not None:
        publisher = commands.CommandPublisher(settings.broker)

    def db() -> psycopg.Connection:
        conn = local.conn
        if conn is None or conn.closed or conn.broken:
            conn = local.conn = psycopg.connect(settings.dsn, autocommit=True, connect_timeout=10)
            # The overview's estimated cost (1,500 index probes) crosses PostgreSQL's JIT
            # threshold, and compiling it took 3.9 s for a 0.2 s query (bench/fleet_overview.py):
            # the dashboard's queries are all short, JIT never pays off here.
            conn.execute("SET jit = off")
        return conn

    def refuse(reason: str, code: int) -> None:
        log.warning(
            "refused %s %r: %s (%s)",
            request.method,
            request.path[:200],
            reason,
            request.remote_addr,
        )
        try:
            db().execute(
                "INSERT INTO collector_counters (collector, name, value) VALUES ('web', %s, 1)"
                " ON CONFLICT (collector, name) DO UPDATE"
                " SET value = collector_counters.value + 1, updated_at = now()",
                (f"web_refused_{reason}",),
            )
        except psycopg.Error as exc:
            log.warning("could not count the refusal: %s", exc)
        abort(code)

    def t(key: str, *args: object) -> str:
        return text(key, g.lang, *args)

    def param(name: str) -> str | None:
        value = request.args.get(name)
        if value is not None and (len(value) > MAX_PARAM or "\x00" in value):
            refuse("bad_param", 400)
        return value or None

    def check_site_id(site_id: str) -> None:
        if not SITE_ID.match(site_id):
            refuse("bad_param", 404)

    @app.before_request
    def _session() -> Response | None:
        lang = request.args.get("lang")
        g.set_lang = lang if lang in accounts.LANGS else None
        g.session = None
        token = request.cookies.get(SESSION_COOKIE, "")
        if token:
            g.session = accounts.find_session(db(), token)
        g.lang = (
            g.set_lang
            or (
                request.cookies.get(LANG_COOKIE)
                if request.cookies.get(LANG_COOKIE) in accounts.LANGS
                else None
            )
            or (g.session.lang if g.session else "fr")
        )
        if request.endpoint in PUBLIC:
            return None
        if g.session is None:
            if request.method == "GET" and request.endpoint not in (None, "series"):
                refuse_quietly = redirect(
                    url_for("login", next=request.full_path.rstrip("?")[:MAX_PARAM])
                )
                return refuse_quietly
            refuse("no_session", 401)
        if request.method == "POST":
            sent = request.form.get("csrf", "")
            if not hmac.compare_digest(sent.encode(), g.session.csrf.encode()):
                refuse("csrf", 403)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none';"
            " base-uri 'none'; form-action 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        _compress(response)
        if getattr(g, "set_lang", None):
            response.set_cookie(
                LANG_COOKIE,
                g.set_lang,
                max_age=365 * 86400,
                samesite="Lax",
                secure=settings.secure_cookies,
            )
        return response

    @app.errorhandler(HTTPException)
    def _error(exc: HTTPException) -> tuple[str, int]:
        if exc.code == 413:
            log.warning("refused %s %r: too large", request.method, request.path[:200])
        key = {
            404: "not_found",
            403: "csrf",
            413: "too_large",
            401: "login",
            500: "server_error",
        }.get(exc.code or 400, "bad_request")
        if not hasattr(g, "lang"):
            g.lang = "fr"
        return render_template("error.html", message=text(key, g.lang)), exc.code or 400

    @app.context_processor
    def _helpers() -> dict[str, Any]:
        now = datetime.now(UTC)

        def lang_url() -> str:
            args = {k: v for k, v in request.args.items() if k != "lang"}
            args["lang"] = "en" if g.lang == "fr" else "fr"
            return f"{request.path}?{urlencode(args)}"

        return {
            "t": t,
            "lang": g.get("lang", "fr"),
            "session": g.get("session"),
            "ago": lambda moment: ago(moment, g.lang, now),
            "duration": lambda s: duration(s, g.lang) if s is not None else "—",
            "utc": lambda m: m.strftime("%Y-%m-%d %H:%M UTC") if m else "",
            "lang_url": lang_url,
            "now": now,
        }

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        failed = False
        if request.method == "POST":
            cookie = request.cookies.get(LOGIN_COOKIE, "")
            sent = request.form.get("csrf", "")
            if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
                refuse("csrf", 403)
            username = request.form.get("username", "")[:64]
            password = request.form.get("password", "")[: accounts.MAX_PASSWORD + 1]
            lang = accounts.authenticate(db(), username, password)
            if lang is not None:
                log.info("login %r", username)
                target = request.args.get("next", "/")
                if not target.startswith("/") or target.startswith("//"):
                    target = "/"
                response = redirect(target)
                response.set_cookie(
                    SESSION_COOKIE,
                    accounts.open_session(db(), username),
                    max_age=accounts.SESSION_DAYS * 86400,
                    httponly=True,
                    samesite="Lax",
                    secure=settings.secure_cookies,
                )
                response.delete_cookie(LOGIN_COOKIE)
                return response
            log.warning("failed login for %r from %s", username, request.remote_addr)
            failed = True
        token = secrets.token_urlsafe(24)
        response = Response(render_template("login.html", csrf=token, failed=failed))
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=3600,
            httponly=True,
            samesite="Strict",
            secure=settings.secure_cookies,
        )
        return response, 401 if failed else 200

    @app.post("/logout")
    def logout() -> Any:
        accounts.close_session(db(), request.cookies.get(SESSION_COOKIE, ""))
        response = redirect(url_for("login"))
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.get("/")
    def overview() -> str:
        region = param("region")
        conn = db()
        rows = queries.overview(
            conn, queries.Filters(region=region), datetime.now(UTC).date(), settings.silent_after_s
        )
        return render_template(
            "overview.html", rows=rows, regions=queries.regions(conn), region=region
        )

    @app.get("/site/<path:site_id>")
    def site(site_id: str) -> str:
        check_site_id(site_id)
        conn = db()
        found = queries.site(conn, site_id)
        if found is None:
            abort(404)
        details = queries.site_details(conn, site_id)
        return render_template(
            "site.html",
            site=found,
            stale_after_s=3 * settings.silent_after_s,
            live_minutes=LIVE_MINUTES,
            resolve=queries.time_to_clear(conn, by="site", site_id=site_id),
            **details,
        )

    @app.get("/series/<path:site_id>")
    def series(site_id: str) -> Response:
        check_site_id(site_id)
        days_text = param("days") or "7"
        if days_text not in ("7", "30"):
            refuse("bad_param", 400)
        data = queries.series(db(), site_id, int(days_text), datetime.now(UTC))
        return jsonify(data)

    @app.get("/alarms")
    def alarms() -> str:
        unacked = param("filter") == "unacked"
        conn = db()
        rows = queries.alarm_list(conn, unacked_only=unacked, include_cleared=False)
        return render_template(
            "alarms.html",
            rows=rows,
            unacked=unacked,
            counts=queries.alarm_counts(conn),
            resolve=queries.time_to_clear(conn, by="region"),
            flash=param("done"),
        )

    @app.post("/alarms/ack")
    def ack() -> Any:
        site_id = request.form.get("site", "")
        alarm_id = request.form.get("alarm", "")
        comment = request.form.get("comment", "").strip()
        if len(comment) > MAX_COMMENT or "\x00" in comment or not SITE_ID.match(site_id):
            refuse("bad_param", 400)
        if not SITE_ID.match(alarm_id):
            refuse("bad_param", 400)
        conn = db()
        alarm = queries.alarm_for_ack(conn, site_id, alarm_id)
        if alarm is None or not alarm["active"] or alarm["since"] is None:
            refuse("bad_param", 404)
        user = g.session.username
        command = None
        if alarm["origin"] == "site" and publisher is not None:
            command = commands.build(
                {"id": alarm_id, "by": user}, alarm["cmd_key"], settings.ack_ttl_s
            )
        if not queries.record_ack(conn, alarm, user, comment, command and command["id"], None):
            return redirect(url_for("alarms", done="already"))
        if command is not None:
            assert publisher is not None
            try:
                publisher.publish(commands.topic(settings.prefix, site_id, "alarm_ack"), command)
            except commands.CommandNotSent as exc:
                log.warning("alarm_ack for %r/%r not sent: %s", site_id, alarm_id, exc)
                conn.execute(
                    "UPDATE alarm_acks SET command_id = NULL, send_error = %s"
                    " WHERE site = %s AND alarm_id = %s AND since = %s",
                    (str(exc)[:200], site_id, alarm_id, alarm["since"]),
                )
        log.info("alarm %r/%r acknowledged by %r", site_id, alarm_id, user)
        return back("ack")

    @app.post("/site/<path:site_id>/live")
    def live(site_id: str) -> Any:
        """Ask a frugal site for live records for a few minutes (the `live` command)."""
        check_site_id(site_id)
        minutes_text = request.form.get("minutes", "")
        if not minutes_text.isdigit() or int(minutes_text) not in (0, *LIVE_MINUTES):
            refuse("bad_param", 400)
        conn = db()
        if queries.site(conn, site_id) is None:
            abort(404)
        if publisher is None:
            refuse("bad_param", 503)
        key = queries.command_key(conn, site_id)
        command = commands.build({"minutes": int(minutes_text)}, key, LIVE_TTL_S)
        try:
            publisher.publish(commands.topic(settings.prefix, site_id, "live"), command)
        except commands.CommandNotSent as exc:
            log.warning("live for %r not sent: %s", site_id, exc)
            return redirect(url_for("site", site_id=site_id, done="live_failed"))
        log.info("live %s min asked of %r by %r", minutes_text, site_id, g.session.username)
        return redirect(url_for("site", site_id=site_id, done="live"))

    def back(done: str) -> Any:
        target = request.form.get("next", "")
        if not target.startswith("/") or target.startswith("//") or "?" in target:
            target = url_for("alarms")
        return redirect(f"{target}?done={done}")

    @app.post("/alarms/visit")
    def visit() -> Any:
        """A technician's visit for the alarm's current raise (active or cleared): a UTC date
        between the raise and today, and a note."""
        site_id = request.form.get("site", "")
        alarm_id = request.form.get("alarm", "")
        note = request.form.get("note", "").strip()
        day_text = request.form.get("visited_on", "")
        if len(note) > MAX_COMMENT or "\x00" in note:
            refuse("bad_param", 400)
        if not SITE_ID.match(site_id) or not SITE_ID.match(alarm_id):
            refuse("bad_param", 400)
        try:
            visited_on = date.fromisoformat(day_text) if len(day_text) == 10 else None
        except ValueError:
            visited_on = None
        conn = db()
        alarm = queries.alarm_for_ack(conn, site_id, alarm_id)
        if alarm is None or alarm["since"] is None:
            refuse("bad_param", 404)
        today = datetime.now(UTC).date()
        if visited_on is None or not alarm["since"].astimezone(UTC).date() <= visited_on <= today:
            refuse("bad_param", 400)
        queries.record_visit(conn, alarm, visited_on, g.session.username, note)
        log.info("visit on %s for %r/%r by %r", visited_on, site_id, alarm_id, g.session.username)
        return back("visit")

    return app
