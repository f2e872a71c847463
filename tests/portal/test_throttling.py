"""API rate limits: a counter per user and window, shared by every server process."""

import pytest
from django.conf import settings
from django.urls import reverse

from portal.throttling import UserRateThrottle

pytestmark = pytest.mark.django_db


def test_past_the_rate_a_user_gets_429_with_when_to_retry_and_others_are_not_held_back(
    firm_a, firm_b, monkeypatch, token_api_as
):
    monkeypatch.setattr(UserRateThrottle, "rate", "3/minute", raising=False)
    monkeypatch.setattr(UserRateThrottle, "timer", lambda self: 120.0 * 1000 + 45)  # 45 s into a window
    busy = token_api_as(firm_a.dispatcher)
    assert [busy.get(reverse("api:me")).status_code for _ in range(3)] == [200, 200, 200]
    refused = busy.get(reverse("api:me"))
    assert refused.status_code == 429
    assert refused["Retry-After"] == "15"
    assert token_api_as(firm_b.dispatcher).get(reverse("api:me")).status_code == 200


def test_a_new_window_starts_a_new_count(firm_a, monkeypatch, token_api_as):
    monkeypatch.setattr(UserRateThrottle, "rate", "2/minute", raising=False)
    now = [60.0 * 1000 + 59]
    monkeypatch.setattr(UserRateThrottle, "timer", lambda self: now[0])
    client = token_api_as(firm_a.dispatcher)
    assert [client.get(reverse("api:me")).status_code for _ in range(3)] == [200, 200, 429]
    now[0] += 2  # the next minute
    assert client.get(reverse("api:me")).status_code == 200


@pytest.mark.redis
def test_the_redis_counter_is_atomic_and_expires_with_its_window():
    from portal.cache import RedisCache

    redis_cache = RedisCache(settings.CELERY_BROKER_URL, {})
    key = "throttle-test:window"
    redis_cache.delete(key)
    assert [redis_cache.count(key, 60) for _ in range(3)] == [1, 2, 3]
    client = redis_cache._cache.get_client(write=True)
    assert 0 < client.ttl(redis_cache.make_key(key)) <= 60
    assert redis_cache._cache.get_client() is client  # one client per pool, not one per call
    redis_cache.delete(key)
