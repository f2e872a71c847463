"""All outbound HTTP of the project goes through here: one client, fixed timeouts.

Tests point the transports at a real local server, or patch ``post`` alone.
"""

import httpx
from django.conf import settings


def post(url: str, **kwargs) -> httpx.Response:
    timeout = httpx.Timeout(settings.HTTP_TIMEOUT_SECONDS, connect=min(5.0, settings.HTTP_TIMEOUT_SECONDS))
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        return client.post(url, **kwargs)


TransportFailure = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
