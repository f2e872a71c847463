"""API rate limits counted in fixed windows.

DRF's ``UserRateThrottle`` keeps every request's time in one cache entry, read and written
again by each request: the entry grows with the rate, and two requests at once can both
read the old list and count once. Here a window is one counter, incremented atomically:
one round trip to Redis per request, however high the rate.
"""

from rest_framework import throttling


class UserRateThrottle(throttling.UserRateThrottle):
    """At most ``num_requests`` per user (or per address, signed out) in each window of
    ``duration`` seconds, the windows aligned to the clock."""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        key = f"{self.key}:{window}"
        if hasattr(self.cache, "count"):
            used = self.cache.count(key, self.duration)
        else:  # the database cache of a server-less development setup: not atomic
            used = self.cache.get(key, 0) + 1
            self.cache.set(key, used, self.duration)
        return used <= self.num_requests

    def wait(self):
        return max(self.window_ends - self.timer(), 0)
