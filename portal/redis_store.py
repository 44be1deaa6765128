"""The node's Redis (REDIS_URL): what several processes of one node must count together."""

from __future__ import annotations

from urllib.parse import urlsplit

# The schemes the `limits` library's Redis storage accepts for a single Redis server.
SCHEMES = ("redis", "rediss", "redis+unix")


def limits_storage_uri(redis_url: str) -> str:
    """The `limits` storage URI for REDIS_URL: the same URL, checked early."""
    scheme = urlsplit(redis_url).scheme
    if scheme not in SCHEMES:
        shown = redis_url.rsplit("@", 1)[-1]  # never a password it may hold
        raise ValueError(
            f"REDIS_URL must start with redis://, rediss:// or redis+unix:// (it is {shown!r})"
        )
    return redis_url


def problem(redis_url: str, *, timeout: float = 3.0) -> str | None:
    """Why this Redis cannot be used now, in a few words, or None when it answers."""
    import redis

    try:
        client = redis.Redis.from_url(
            redis_url.replace("redis+unix://", "unix://", 1),
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
        )
        client.ping()
        client.close()
    except (redis.RedisError, ValueError, OSError) as error:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    return None
