"""A real HTTP webhook receiver for notification tests: records every POST, answers with a
scripted status (e.g. 500, 500, then 200), on 127.0.0.1 and a port the kernel picks."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Webhook:
    def __init__(self, statuses: list[int] | None = None, default: int = 200, fail_each: int = 0):
        self.received: list[dict] = []          # every POST body, failed ones too
        self.times: list[float] = []
        self.answers: list[int] = []
        self.statuses = list(statuses or [])    # answered first, in order
        self.default = default
        self.fail_each = fail_each              # answer 500 to the first N posts of every EventId
        self._posts: dict[str, int] = {}
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with hook._lock:
                    seen = hook._posts[body.get("EventId", "")] = hook._posts.get(body.get("EventId", ""), 0) + 1
                    status = hook.statuses.pop(0) if hook.statuses else 500 if seen <= hook.fail_each \
                        else hook.default
                    hook.received.append(body)
                    hook.times.append(time.monotonic())
                    hook.answers.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def delivered(self) -> list[dict]:
        """Bodies answered with 2xx."""
        with self._lock:
            return [b for b, s in zip(self.received, self.answers) if 200 <= s < 300]

    def posts(self, event_id: str) -> list[tuple[float, int]]:
        """(time, status answered) of every POST of one event."""
        with self._lock:
            return [(t, s) for b, t, s in zip(self.received, self.times, self.answers) if b.get("EventId") == event_id]

    def messages(self, source_id: str = "") -> list[str]:
        return [b["Message"] for b in self.delivered() if not source_id or b["SourceIdentifier"] == source_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
