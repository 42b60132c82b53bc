"""Alerts: one per open problem (table `alerts`), sent to every configured channel.

A problem is opened once, repeated after `alerts.reminder_hours` while it stays
open, and closed with a recovery message when it clears.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import smtplib
import socket
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from core import metastore
from core.errors import PlatformError
from core.settings import Settings
from core.settings_operations import ChannelSettings

log = logging.getLogger("duckstack.alerts")

SEND_TIMEOUT_SECONDS = 10


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_channels(settings: Settings) -> None:
    """Refuse to start with a channel that cannot deliver (secrets were checked when the settings loaded)."""
    for name, channel in settings.alerts.channels.items():
        if channel.kind == "email" and not channel.to:
            raise PlatformError(f"Alert channel {name!r} (email) has no recipients: set alerts.channels.{name}.to in config.yaml.")


def raise_alert(settings: Settings, key: str, message: str, *, severity: str = "error", now: dt.datetime | None = None) -> bool:
    """Open (or remind about) the problem `key`; returns True when a message was sent."""
    now = now or _now()
    with contextlib.closing(metastore.connect(settings.meta_path)) as con, con:
        row = con.execute("SELECT last_sent_at FROM alerts WHERE alert_key = ? AND closed_at IS NULL", (key,)).fetchone()
        if row is None:
            con.execute(
                "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, NULL, ?, ?)", (key, now.isoformat(), now.isoformat(), severity, message)
            )
            subject = f"[{severity.upper()}] {message}"
        elif now - dt.datetime.fromisoformat(row[0]) >= dt.timedelta(hours=settings.alerts.reminder_hours):
            con.execute("UPDATE alerts SET last_sent_at = ?, message = ? WHERE alert_key = ?", (now.isoformat(), message, key))
            subject = f"[{severity.upper()}, still open] {message}"
        else:
            con.execute("UPDATE alerts SET message = ? WHERE alert_key = ?", (message, key))
            return False
    send(settings, subject, key)
    return True


def clear_alert(settings: Settings, key: str, message: str, *, now: dt.datetime | None = None) -> bool:
    """Close the problem `key` if open, with a recovery message; returns True when one was sent."""
    now = now or _now()
    with contextlib.closing(metastore.connect(settings.meta_path)) as con, con:
        cursor = con.execute("UPDATE alerts SET closed_at = ? WHERE alert_key = ? AND closed_at IS NULL", (now.isoformat(), key))
        if cursor.rowcount == 0:
            return False
    send(settings, f"[RESOLVED] {message}", key)
    return True


def open_alerts(meta_path: Path) -> list[dict]:
    if not meta_path.exists():
        return []
    with contextlib.closing(metastore.connect(meta_path)) as con:
        rows = con.execute(
            "SELECT alert_key, opened_at, severity, message FROM alerts WHERE closed_at IS NULL ORDER BY opened_at"
        ).fetchall()
    return [dict(zip(("alert_key", "opened_at", "severity", "message"), row, strict=True)) for row in rows]


def prune(meta_path: Path, older_than: dt.datetime) -> None:
    with contextlib.closing(metastore.connect(meta_path)) as con, con:
        con.execute("DELETE FROM alerts WHERE closed_at IS NOT NULL AND closed_at < ?", (older_than.isoformat(),))


def send(settings: Settings, text: str, key: str) -> None:
    """Deliver to every channel; a channel that fails is logged and does not stop the others."""
    for name, channel in settings.alerts.channels.items():
        try:
            env_name = channel.secret_env(name)
            SENDERS[channel.kind](channel, settings.secret(env_name) if env_name else None, text, key)
        except Exception as exc:  # noqa: BLE001 - one broken channel must not silence the rest
            log.error("alert channel %s failed: %s", name, type(exc).__name__ + (f": {exc}" if channel.kind != "webhook" else ""))


def _to_log(channel: ChannelSettings, secret: None, text: str, key: str) -> None:
    log.warning("ALERT %s", text, extra={"alert_key": key})


def _to_webhook(channel: ChannelSettings, url: str, text: str, key: str) -> None:
    body = json.dumps({"text": text, "alert_key": key}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as response:
        response.read()


def _to_email(channel: ChannelSettings, password: str | None, text: str, key: str) -> None:
    message = EmailMessage()
    message["Subject"] = "duckstack: " + text.splitlines()[0][:150]
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message.set_content(f"{text}\n\nalert key: {key}\n")
    # local_hostname: smtplib would otherwise ask DNS for our FQDN, which stalls on offline hosts.
    with smtplib.SMTP(channel.smtp_host, channel.smtp_port, local_hostname=socket.gethostname(), timeout=SEND_TIMEOUT_SECONDS) as smtp:
        if channel.starttls:
            smtp.starttls()
        if channel.username:
            smtp.login(channel.username, password or "")
        smtp.send_message(message)


SENDERS: dict[str, Callable[[ChannelSettings, Any, str, str], None]] = {"log": _to_log, "webhook": _to_webhook, "email": _to_email}
