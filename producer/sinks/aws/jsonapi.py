"""What Firehose's and Kinesis's batch calls share: the JSON 1.1 pieces of a request and
the per-record failures of a response.

Each service module (:mod:`~producer.sinks.aws.firehose`, :mod:`~producer.sinks.aws.kinesis`)
builds its own request and reads its own response with these, for every transport.
"""

from __future__ import annotations

import binascii
import functools
from json.encoder import encode_basestring_ascii
from typing import Any

__all__ = ["b64", "json_string", "record_failures"]

#: A record as base64, without the newline binascii adds by default.
b64 = functools.partial(binascii.b2a_base64, newline=False)


def json_string(text: str) -> bytes:
    """``text`` as a JSON string literal (ASCII, as botocore writes it)."""
    return encode_basestring_ascii(text).encode("ascii")


def record_failures(resp: Any, count_key: str, list_key: str) -> list[tuple[int, str, str]]:
    """The failed records of a 200 response: (index, code, message), as botocore reads them.

    ``resp`` is botocore's parsed response or the raw JSON of the fast transport: a
    missing or null message reads as "", and a malformed answer as no failures.
    """
    if not isinstance(resp, dict) or not resp.get(count_key):
        return []
    out: list[tuple[int, str, str]] = []
    for j, entry in enumerate(resp.get(list_key) or ()):
        if isinstance(entry, dict) and entry.get("ErrorCode"):
            message = entry.get("ErrorMessage")
            out.append((j, str(entry["ErrorCode"]), "" if message is None else str(message)))
    return out
