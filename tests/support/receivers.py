"""Real alert receivers on loopback: an HTTP webhook endpoint and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


class WebhookReceiver:
    """Collects the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T000/SECRET-TOKEN"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def texts(self, key: str | None = None) -> list[str]:
        return [m["text"] for m in self.received if key is None or m["alert_key"] == key]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """An SMTP server that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append({"from": envelope.mail_from, "to": envelope.rcpt_tos, "data": envelope.content.decode()})
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(email.message_from_string(m["data"], policy=email.policy.default)["Subject"]).strip() for m in self.messages]

    def close(self) -> None:
        self.controller.stop()


def channel_env(webhook: WebhookReceiver, smtp: SmtpReceiver) -> dict[str, str]:
    """PLATFORM__ overrides that send alerts to both receivers (and the log)."""
    return {
        "PLATFORM__ALERTS__CHANNELS": json.dumps(
            {
                "log": {"kind": "log"},
                "slack": {"kind": "webhook"},
                "email": {"kind": "email", "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "to": ["ops@example.com"]},
            }
        ),
        "ALERTS_SLACK_WEBHOOK_URL": webhook.url,
    }
