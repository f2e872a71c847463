"""API token authentication that keeps a token's user in the cache between requests.

A handheld scanner or a firm's system sends its token with every request; reading the
token and its user each time is most of what a short request costs. The user's fields are
kept for ``API_TOKEN_CACHE_SECONDS``, without the password hash (and never the token), and
dropped from the cache as soon as the token or the user is saved or deleted (a rotated
token, a deactivated user). A change that bypasses ``save()`` (a queryset ``update``) takes
effect within those seconds.
"""

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from rest_framework import authentication
from rest_framework.authtoken.models import Token

from portal.cache import now_and_after_commit


def _cache_key(key: str) -> str:
    # Never the token itself as a cache key: the cache is not where secrets live.
    return "api-token:" + hashlib.sha256(key.encode()).hexdigest()


def _cached_fields() -> list[str]:
    return [f.attname for f in get_user_model()._meta.concrete_fields if f.attname != "password"]


class CachedTokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        cache_key = _cache_key(key)
        values = cache.get(cache_key)
        if values is not None and values.get("is_active"):
            # The password stays deferred: read from the database only if something asks.
            return get_user_model().from_db("default", list(values), list(values.values())), key
        # DRF's own checks and messages for an unknown token or an inactive user.
        user, _token = super().authenticate_credentials(key)
        values = {name: getattr(user, name) for name in _cached_fields()}
        cache.set(cache_key, values, settings.API_TOKEN_CACHE_SECONDS)
        return user, key


def _forget(keys: list[str]) -> None:
    now_and_after_commit(lambda: cache.delete_many(keys))


def token_forget(sender, instance, **kwargs):
    _forget([_cache_key(instance.key)])


def user_forget(sender, instance, **kwargs):
    keys = [
        _cache_key(key) for key in Token.objects.filter(user_id=instance.pk).values_list("key", flat=True)
    ]
    if keys:
        _forget(keys)


def connect() -> None:
    post_save.connect(token_forget, sender=Token, dispatch_uid="portal.token_forget_saved")
    post_delete.connect(token_forget, sender=Token, dispatch_uid="portal.token_forget_deleted")
    post_save.connect(user_forget, sender=get_user_model(), dispatch_uid="portal.user_forget_saved")
    post_delete.connect(user_forget, sender=get_user_model(), dispatch_uid="portal.user_forget_deleted")
