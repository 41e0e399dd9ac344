"""A real Redis compiles every Lua script of the Redis store (SCRIPT LOAD)."""

from __future__ import annotations

import hashlib

import pytest
import redis

from rhworker.store.redis import scripts

pytestmark = pytest.mark.integration


def test_redis_accepts_every_script(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        loaded = scripts.load()
        assert len(loaded) >= 20
        for name, text in loaded.items():
            sha = client.script_load(text)
            assert sha == hashlib.sha1(text.encode()).hexdigest(), name
        assert all(
            client.script_exists(*[hashlib.sha1(t.encode()).hexdigest() for t in loaded.values()])
        )
        with pytest.raises(redis.exceptions.ResponseError):  # a broken script is refused
            client.script_load(scripts.load()["ack"] + "\nlocal broken = (")
    finally:
        client.close()
