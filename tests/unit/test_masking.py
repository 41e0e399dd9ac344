"""One masking function: passwords in the user part and secret query values."""

from __future__ import annotations

import logging

import pytest

from rhworker.logs import StructuredFields
from rhworker.masking import MaskingFilter, mask_text, mask_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:s3cret@h:6379/0?prefix=x", "redis://:***@h:6379/0?prefix=x"),
        ("rediss://user:s3cret@h/0", "rediss://user:***@h/0"),
        ("redis://s3cret@h:1/0", "redis://***@h:1/0"),  # redis-py: a lone user part is the password
        (
            "zookeeper://h:2181?auth=digest:u:s3cret&timeout=3",
            "zookeeper://h:2181?auth=***&timeout=3",
        ),
        ("zookeeper://u:s3cret@h:2181", "zookeeper://u:***@h:2181"),
        (
            "redis://h:1?sentinel=m&sentinel_password=s3cret&password=s3cret",
            "redis://h:1?sentinel=m&sentinel_password=***&password=***",
        ),
        (
            "etcd3+http://h:2379?api_token=s3cret&ca_cert=x",
            "etcd3+http://h:2379?api_token=***&ca_cert=x",
        ),
        ("mysql://u:p%40ss@h/db", "mysql://u:***@h/db"),
        ("redis://u:s3/cret@h/0", "redis://u:***@h/0"),  # an unescaped "/" in the password
        ("redis://:s3cret@h:99999/0", "redis://:***@h:99999/0"),  # urlsplit would refuse the port
        ("sqlite:////var/lib/rhworker/rhworker.db", "sqlite:////var/lib/rhworker/rhworker.db"),
        ("file:///var/lib/rhworker/locks", "file:///var/lib/rhworker/locks"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert "s3cret" not in mask_url(url)


def test_mask_text_masks_every_url_in_a_message() -> None:
    text = "store 'redis://:s3cret@h:1/0' and locks zookeeper://h:2?digest=a:s3cret, plain words"
    assert mask_text(text) == (
        "store 'redis://:***@h:1/0' and locks zookeeper://h:2?digest=***, plain words"
    )


def _emit(logger: logging.Logger, records: list[logging.LogRecord], *a, **kw) -> logging.LogRecord:
    logger.error(*a, **kw)
    return records[-1]


def test_logging_filters_mask_messages_and_tracebacks_and_name_extra_fields() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(StructuredFields())
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger("test.masking")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        record = _emit(
            logger, records, "connecting to %s", "redis://:s3cret@h/0", extra={"step": "x"}
        )
        assert record.getMessage() == "connecting to redis://:***@h/0"
        assert record.extra_keys == ["step"]  # where oslo.log's JSONFormatter looks
        try:
            raise ValueError("bad URL redis://:s3cret@h/0")
        except ValueError:
            record = _emit(logger, records, "failed", exc_info=True)
        formatted = logging.Formatter().format(record)
        assert "s3cret" not in formatted
        assert "ValueError: bad URL redis://:***@h/0" in formatted
    finally:
        logger.removeHandler(handler)
