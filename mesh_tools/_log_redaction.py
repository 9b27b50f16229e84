"""Keep participant tokens out of logs, whoever logs them and at whatever level.

websockets logs every handshake header and the request line at DEBUG (``-vv``), so a bearer token or a
``?token=`` query would land in the log in full. :class:`RedactSecrets` masks them in a record's
message and arguments before any handler formats it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = ["RedactSecrets", "redact", "redact_args"]

_REDACTED = "[redacted]"
_SECRETS = re.compile(
    r"(?P<prefix>(?i:bearer)\s+|[?&](?i:token)=)[^\s&#\"']+"  # header value, query parameter
    r"|eyJ[\w-]*\.[\w-]+\.[\w-]*"  # any JWT, wherever else it appears
)


def redact(text: str) -> str:
    """``text`` with bearer tokens, ``token=`` query values and JWTs masked."""
    return _SECRETS.sub(lambda m: (m["prefix"] or "") + _REDACTED, text)


def redact_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Logging arguments with every string one passed through :func:`redact`."""
    return tuple(redact(arg) if isinstance(arg, str) else arg for arg in args)


class RedactSecrets(logging.Filter):
    """A filter (for handlers or loggers) that masks secrets in each record; it never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = redact_args(record.args)
        elif isinstance(record.args, dict):
            record.args = dict(zip(record.args, redact_args(tuple(record.args.values())), strict=True))
        return True
