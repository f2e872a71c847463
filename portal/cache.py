"""The Redis cache, with one client per connection pool and an atomic counter.

Django's Redis backend builds a new ``redis.Redis`` client around its connection pool for
every call; a client is safe to share between threads (each command borrows a connection
from the pool), so one is kept per pool. ``count`` is what API throttling needs: one
round trip that creates a key with its expiry if it is missing, then increments it.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.db import transaction


def now_and_after_commit(forget) -> None:
    """Drop a cached copy now, and again after commit: a request between the two could
    otherwise cache the row the transaction is about to change."""
    forget()
    transaction.on_commit(forget)


class _Client(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def count(self, key, timeout):
        with self.get_client(key, write=True).pipeline(transaction=False) as pipe:
            pipe.set(key, 0, ex=timeout, nx=True)  # the window's start sets the expiry
            pipe.incr(key)
            _started, value = pipe.execute()
        return value


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _Client

    def count(self, key, timeout: int, version=None) -> int:
        """Add one to ``key`` (0 if missing) and return the new value; the key expires
        ``timeout`` seconds after it was first counted."""
        return self._cache.count(self.make_and_validate_key(key, version=version), timeout)
