"""All outbound HTTP of the project goes through here: one client, fixed timeouts.

The client is made once per process (building one costs an SSL context) and kept, so
connections to a gateway are reused. Tests point the transports at a real local server,
or patch ``post`` alone.
"""

import os
import threading

import httpx
from django.conf import settings

_client: httpx.Client | None = None
_client_pid: int | None = None
_lock = threading.Lock()


def _shared_client() -> httpx.Client:
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():  # a forked worker makes its own
        with _lock:
            if _client is None or _client_pid != os.getpid():
                _client = httpx.Client(follow_redirects=False, limits=httpx.Limits(max_connections=50))
                _client_pid = os.getpid()
    return _client


def post(url: str, **kwargs) -> httpx.Response:
    timeout = httpx.Timeout(settings.HTTP_TIMEOUT_SECONDS, connect=min(5.0, settings.HTTP_TIMEOUT_SECONDS))
    return _shared_client().post(url, timeout=timeout, **kwargs)


TransportFailure = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
