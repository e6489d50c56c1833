"""Removing secrets from text before it reaches a message, a log line or a repr."""

from __future__ import annotations

import contextlib
import re

__all__ = ["redact", "redact_exception_chain"]

REDACTED = "REDACTED"

# A SAS signature in a query string, raw or percent-encoded once or twice
# ("sig=", "sig%3D", "sig%253D"), up to the next separator.
_SIG = re.compile(
    r"(?i)((?<![a-z])sig(?:=|%3D|%253D))[^&%\s'\"<>]*(?:%(?!26|2526)[0-9a-f]{2}[^&%\s'\"<>]*)*"
)
# A bearer token or SharedKey signature in a printed Authorization header.
_AUTH = re.compile(r"(?i)\b(Bearer|SharedKey)\s+[^\s'\",]+")


def redact(text: str) -> str:
    """``text`` with SAS signatures and Authorization values replaced."""
    text = _SIG.sub(rf"\1{REDACTED}", text)
    return _AUTH.sub(rf"\1 {REDACTED}", text)


def redact_exception_chain(exc: BaseException) -> None:
    """Redact, in place, the message of ``exc`` and of every exception it chains to.

    Transport errors quote the request URL, SAS included, in their message; they are
    kept as causes for debugging, so their text is cleaned instead of dropped.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(redact(a) if isinstance(a, str) else a for a in current.args)
        for attribute in ("message", "reason"):
            value = getattr(current, attribute, None)
            if isinstance(value, str):
                with contextlib.suppress(AttributeError):  # a read-only property
                    setattr(current, attribute, redact(value))
        current = current.__cause__ or current.__context__
