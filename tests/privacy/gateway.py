"""A local HTTP SMS gateway that records every message it is asked to send."""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SmsGateway:
    """Answers 200 to everything; ``received`` holds ``(phone, subject, text)`` in order."""

    url: str = ""
    received: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Any = None

    #: The request body the ``sms`` channel is configured with (every field it can send).
    BODY = '{"to": {{ phone|tojson }}, "subject": {{ subject|tojson }}, "text": {{ text|tojson }}}'

    def start(self) -> None:
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = json.loads(self.rfile.read(length) or b"{}")
                with gateway.lock:
                    gateway.received.append(
                        (str(data.get("to")), str(data.get("subject")), str(data.get("text")))
                    )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/send"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def since(self, start: int) -> list[tuple[str, str, str]]:
        with self.lock:
            return list(self.received[start:])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
