"""A real local HTTP server standing in for the SMS gateway, for tests and the benchmark.

It speaks the contract of notifications.transports.HttpJsonSmsTransport and, like real
gateways, accepts a repeated Idempotency-Key once (answering with the first message id).
Faults are switched on per instance: answer 503 to the first N requests, hang on the
first one, or answer 429 with Retry-After.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Gateway:
    def __init__(self, *, fail_first: int = 0, hang_first_seconds: float = 0.0, status_first: int = 503):
        self.fail_first = fail_first
        self.status_first = status_first
        self.hang_first_seconds = hang_first_seconds
        self.requests = 0
        self.accepted: dict[str, dict] = {}  # idempotency key -> message
        self.duplicates = 0  # repeats of a key already accepted, answered without a second delivery
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/send"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def messages(self) -> list[dict]:
        with self.lock:
            return list(self.accepted.values())

    def _handler(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with gateway.lock:
                    gateway.requests += 1
                    number = gateway.requests
                if number <= gateway.fail_first:
                    return self._answer(gateway.status_first, {"error": "busy"}, {"Retry-After": "0"})
                try:
                    data = json.loads(body)
                    key = self.headers["Idempotency-Key"]
                    assert data["to"].startswith("+") and data["text"] and key
                except (ValueError, KeyError, AssertionError, TypeError):
                    return self._answer(400, {"error": "bad request"})
                with gateway.lock:
                    if key in gateway.accepted:
                        gateway.duplicates += 1
                        return self._answer(200, {"id": gateway.accepted[key]["id"]})
                    message = {
                        "id": f"gw-{len(gateway.accepted) + 1}",
                        **data,
                        "received_at": time.monotonic(),
                    }
                    gateway.accepted[key] = message
                if number == 1 and gateway.hang_first_seconds:
                    time.sleep(gateway.hang_first_seconds)
                return self._answer(200, {"id": message["id"]})

            def _answer(self, status, payload, headers=None):
                raw = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
