"""API token authentication that keeps a token's user in the cache between requests.

A handheld scanner or a firm's system sends its token with every request; reading the
token and its user each time is most of what a short request costs. The user is kept for
``API_TOKEN_CACHE_SECONDS`` and dropped from the cache as soon as the token or the user is
saved or deleted (a rotated token, a deactivated user). A change that bypasses ``save()``
(a queryset ``update``) takes effect within those seconds.
"""

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from rest_framework import authentication
from rest_framework.authtoken.models import Token


def _cache_key(key: str) -> str:
    # Never the token itself as a cache key: the cache is not where secrets live.
    return "api-token:" + hashlib.sha256(key.encode()).hexdigest()


class CachedTokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        cache_key = _cache_key(key)
        user = cache.get(cache_key)
        if user is None or not user.is_active:
            # DRF's own checks and messages for an unknown token or an inactive user.
            user, _token = super().authenticate_credentials(key)
            cache.set(cache_key, user, settings.API_TOKEN_CACHE_SECONDS)
        return user, key


def token_forget(sender, instance, **kwargs):
    cache.delete(_cache_key(instance.key))


def user_forget(sender, instance, **kwargs):
    keys = [
        _cache_key(key) for key in Token.objects.filter(user_id=instance.pk).values_list("key", flat=True)
    ]
    if keys:
        cache.delete_many(keys)


def connect() -> None:
    post_save.connect(token_forget, sender=Token, dispatch_uid="portal.token_forget_saved")
    post_delete.connect(token_forget, sender=Token, dispatch_uid="portal.token_forget_deleted")
    post_save.connect(user_forget, sender=get_user_model(), dispatch_uid="portal.user_forget_saved")
    post_delete.connect(user_forget, sender=get_user_model(), dispatch_uid="portal.user_forget_deleted")
