"""Credentials never shown: one masking function for every URL rhworker prints or logs.

:func:`mask_url` hides the password of a URL's user part and the value of every
query parameter whose name looks secret (``password``, ``sentinel_password``,
ZooKeeper's ``auth``/``digest``, anything with *password*, *passwd*, *secret*,
*token*, *auth*, *digest*, *credential* or *key* in it). :func:`mask_text` applies
it to every URL found inside free text (log messages, error messages).
"""

from __future__ import annotations

import logging
import re
import traceback
from urllib.parse import unquote

# What a hidden value is replaced with.
MASK = "***"

# Query-parameter names whose values are secrets.
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|auth|digest|credential|key", re.IGNORECASE)

# A URL inside text: scheme://, then everything up to whitespace or a closing quote/bracket.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{}]+")


def is_secret_key(name: str) -> bool:
    """Whether a query-parameter (or option) name holds a secret."""
    return bool(_SECRET_KEY.search(name))


def mask_url(url: str) -> str:
    """``url`` with its password and secret query values replaced by ``***``.

    Only the secret parts change (the rest is kept byte for byte), and it never
    raises: a URL that does not parse is still masked by its shape."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    # A password may hold an unescaped "/" or "?": the user part ends at the last "@".
    at = rest.rfind("@", 0, min((i for i in (rest.find(c) for c in "?#") if i >= 0), default=None))
    start = at + 1 if at >= 0 else 0
    authority_end = min(
        (i for i in (rest.find(c, start) for c in "/?#") if i >= 0), default=len(rest)
    )
    authority, tail = rest[:authority_end], rest[authority_end:]
    if "@" in authority:
        userinfo, _, hostport = authority.rpartition("@")
        if ":" in userinfo:
            authority = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostport}"
        elif scheme.lower() in ("redis", "rediss"):  # redis://secret@host: a password alone
            authority = f"{MASK}@{hostport}"
    path, qsep, query = tail.partition("?")
    if qsep:
        query, fsep, fragment = query.partition("#")
        pieces = []
        for piece in query.split("&"):
            key, eq, _ = piece.partition("=")
            pieces.append(f"{key}={MASK}" if eq and is_secret_key(unquote(key)) else piece)
        tail = f"{path}?{'&'.join(pieces)}{fsep}{fragment}"
    return f"{scheme}://{authority}{tail}"


def mask_text(text: str) -> str:
    """``text`` with every URL in it masked by :func:`mask_url`."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    # Punctuation that ends a sentence is not part of the URL before it.
    url = match.group(0)
    stripped = url.rstrip(".,;:!?")
    return mask_url(stripped) + url[len(stripped) :]


class MaskingFilter(logging.Filter):
    """Masks URLs in a record's message (and its traceback) before any handler sees it.

    Installed on the root logger's handlers by :mod:`rhworker.logs`, so a URL
    logged by a library (redis-py, tooz, kazoo) is masked as well."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: let the handler report it as usual
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            trace = "".join(traceback.format_exception(*record.exc_info))
            masked_trace = mask_text(trace)
            if masked_trace != trace:  # the traceback carries a secret: log its masked text
                record.msg, record.args = f"{record.getMessage()}\n{masked_trace.rstrip()}", None
                record.exc_info, record.exc_text = None, None
        return True
