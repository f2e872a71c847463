"""API tokens: the token's user is read once and kept in the cache, and forgotten as soon as
the token is rotated or the user deactivated."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from portal import services

pytestmark = pytest.mark.django_db


def client_with(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def reads_of_tokens_or_users(captured) -> list[str]:
    return [q["sql"] for q in captured if '"authtoken_token"' in q["sql"] or '"portal_user"' in q["sql"]]


def test_the_second_request_with_a_token_does_not_read_it_again(firm_a):
    token = Token.objects.create(user=firm_a.dispatcher)
    client = client_with(token)
    with CaptureQueriesContext(connection) as first:
        assert client.get(reverse("api:me")).json()["id"] == firm_a.dispatcher.pk
    assert len(reads_of_tokens_or_users(first)) == 1
    with CaptureQueriesContext(connection) as second:
        answer = client.get(reverse("api:me"))
    assert answer.json()["id"] == firm_a.dispatcher.pk
    assert reads_of_tokens_or_users(second) == []


def test_a_rotated_token_stops_working_at_once(firm_a):
    token = Token.objects.create(user=firm_a.dispatcher)
    client = client_with(token)
    assert client.get(reverse("api:me")).status_code == 200
    services.api_token_rotate(user=firm_a.dispatcher)
    assert client.get(reverse("api:me")).status_code == 401


def test_a_deactivated_user_is_refused_at_once(firm_a):
    token = Token.objects.create(user=firm_a.dispatcher)
    client = client_with(token)
    assert client.get(reverse("api:me")).status_code == 200
    firm_a.dispatcher.is_active = False
    firm_a.dispatcher.save()
    assert client.get(reverse("api:me")).status_code == 401


def test_a_changed_language_is_seen_on_the_next_request(firm_a):
    token = Token.objects.create(user=firm_a.dispatcher)
    client = client_with(token)
    assert client.get(reverse("api:me")).json()["language"] == "en"
    firm_a.dispatcher.language = "ru"
    firm_a.dispatcher.save()
    assert client.get(reverse("api:me")).json()["language"] == "ru"


def test_an_unknown_token_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    answer = client.get(reverse("api:me"))
    assert answer.status_code == 401


def test_the_cache_holds_neither_the_token_nor_the_password_hash(firm_a):
    import pickle

    from django.core.cache import cache

    from portal.authentication import _cache_key

    firm_a.dispatcher.set_password("correct horse battery staple")
    firm_a.dispatcher.save()
    token = Token.objects.create(user=firm_a.dispatcher)
    assert client_with(token).get(reverse("api:me")).status_code == 200
    cached = cache.get(_cache_key(token.key))
    assert cached["id"] == firm_a.dispatcher.pk
    stored = pickle.dumps(cached)
    assert token.key.encode() not in stored
    assert firm_a.dispatcher.password.encode() not in stored
    assert "password" not in cached
