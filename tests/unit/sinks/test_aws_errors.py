"""Every error the SDK or the fast transport's HTTP libraries can raise reaches a caller translated.

Each exception class of ``botocore.exceptions`` (every subclass of ``BotoCoreError`` and
``ClientError``), of aiohttp's client and of urllib3 is built (generically, from its
message template or its constructor's parameters) and passed through the translator:
what comes out is a :class:`~producer.errors.ProducerError` with a one-line message. A
new exception class in a later release is picked up by the enumeration; one that
cannot be built generically fails here, to be given its arguments.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl
import string
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import aiohttp.http_exceptions
import botocore.exceptions as bexc
import pytest
import urllib3.exceptions as uexc
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from producer.errors import ProducerError, TransportError
from producer.sinks.aws.clients import (
    aiohttp_error_as_botocore,
    translate_error,
    urllib3_error_as_botocore,
)

#: A field value with a line break: a translated message must still be one line.
TWO_LINES = "first line\nsecond line"
URL_TEXT = "http://127.0.0.1:1/"


def subclasses(root: type[BaseException]) -> Iterator[type[BaseException]]:
    """``root`` and every class derived from it, each once, by name."""
    seen: dict[str, type[BaseException]] = {}
    todo = [root]
    while todo:
        cls = todo.pop()
        key = f"{cls.__module__}.{cls.__qualname__}"
        if key not in seen:
            seen[key] = cls
            todo.extend(cls.__subclasses__())
    for key in sorted(seen):
        yield seen[key]


def botocore_classes() -> list[type[BaseException]]:
    classes = [c for c in vars(bexc).values() if isinstance(c, type) and issubclass(c, BaseException)]
    # Modelled service errors (client.exceptions.*) are ClientError subclasses made at run time.
    return sorted(
        {c for c in classes if issubclass(c, bexc.BotoCoreError | bexc.ClientError)}, key=lambda c: c.__name__
    )


def build_botocore(cls: type[BaseException]) -> BaseException:
    if issubclass(cls, bexc.ClientError):
        return cls({"Error": {"Code": "SomeError", "Message": TWO_LINES}}, "PutRecordBatch")
    fields = {name for _, name, _, _ in string.Formatter().parse(getattr(cls, "fmt", "")) if name}
    kwargs: dict[str, Any] = {name.split(".")[0].split("[")[0]: TWO_LINES for name in fields}
    signature = inspect.signature(cls.__init__)
    for name, param in list(signature.parameters.items())[1:]:
        if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and param.default is param.empty:
            kwargs.setdefault(name, TWO_LINES)
    return cls(**kwargs)


@pytest.mark.parametrize("cls", botocore_classes(), ids=lambda c: c.__name__)
def test_every_botocore_exception_is_translated_to_one_line(cls: type[BaseException]) -> None:
    exc = build_botocore(cls)
    assert isinstance(exc, Exception)
    for service in (None, "s3"):
        err = translate_error(
            exc, what="Firehose stream 'netflix-events'", region="us-east-1", service=service
        )
        assert isinstance(err, ProducerError)
        assert isinstance(err, TransportError)
        assert err.message and "\n" not in err.message and "\n" not in str(err)


def test_the_enumeration_sees_the_classes_callers_meet() -> None:
    names = {c.__name__ for c in botocore_classes()}
    assert {"ClientError", "NoCredentialsError", "EndpointConnectionError", "ReadTimeoutError"} <= names
    assert len(names) > 50


@pytest.mark.parametrize(
    ("code", "status", "retryable", "expected"),
    [
        ("ResourceNotFoundException", 400, False, "Firehose stream 'x' not found in eu-west-1"),
        ("AccessDeniedException", 400, False, "access denied to Firehose stream 'x' in eu-west-1: first line second line"),
        ("ExpiredTokenException", 400, False, "AWS rejected the credentials (ExpiredTokenException): first line second line"),
        ("ServiceUnavailableException", 400, True, "first line second line"),
        ("InternalFailure", 500, True, "first line second line"),
        ("Whatever", 503, True, "first line second line"),
        ("ValidationException", 400, False, "Firehose stream 'x': ValidationException: first line second line"),
    ],
)  # fmt: skip
def test_client_errors_by_code(code: str, status: int, retryable: bool, expected: str) -> None:
    exc = bexc.ClientError(
        {"Error": {"Code": code, "Message": TWO_LINES}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )
    err = translate_error(exc, what="Firehose stream 'x'", region="eu-west-1")
    assert (err.code, err.retryable, err.message) == (code, retryable, expected)


def test_a_missing_bucket_is_named_whichever_call_found_it() -> None:
    listing = bexc.ClientError(
        {
            "Error": {
                "Code": "NoSuchBucket",
                "Message": "The specified bucket does not exist",
                "BucketName": "b1",
            }
        },
        "ListObjectsV2",
    )
    head = bexc.ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadBucket")
    assert (
        translate_error(listing, what="s3://b1/raw/", region="us-east-1").message
        == "S3 bucket 'b1' not found"
    )
    assert (
        translate_error(head, what="S3 bucket 'b2'", region="us-east-1").message == "S3 bucket 'b2' not found"
    )


def test_an_error_that_is_not_the_sdks_is_not_swallowed() -> None:
    with pytest.raises(KeyError):
        translate_error(KeyError("a bug"), what="x", region="r")


# -- the fast transport's HTTP libraries -----------------------------------------------------


def _aiohttp_value(name: str) -> Any:
    request_info = aiohttp.RequestInfo(URL(URL_TEXT), "POST", CIMultiDictProxy(CIMultiDict()), URL(URL_TEXT))
    values: dict[str, Any] = {
        "connection_key": SimpleNamespace(host="127.0.0.1", port=1, ssl=True, is_ssl=False),
        "os_error": ConnectionRefusedError(111, TWO_LINES),
        "certificate_error": ssl.SSLCertVerificationError(TWO_LINES),
        "request_info": request_info,
        "history": (),
        "url": URL_TEXT,
        "expected": b"a",
        "got": b"b",
        "host": "127.0.0.1",
        "port": 1,
        "code": 500,
        "message": TWO_LINES,
    }
    return values.get(name, TWO_LINES)


def _build_from_signature(cls: type[BaseException], value: Any) -> BaseException:
    kwargs: dict[str, Any] = {}
    args: list[Any] = []
    for name, param in list(inspect.signature(cls.__init__).parameters.items())[1:]:
        if param.kind is param.VAR_POSITIONAL:
            args.append(TWO_LINES)
        elif param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and param.default is param.empty:
            kwargs[name] = value(name)
    return cls(*args, **kwargs)


def aiohttp_classes() -> list[type[BaseException]]:
    return [
        *subclasses(aiohttp.ClientError),
        *subclasses(aiohttp.http_exceptions.HttpProcessingError),
        asyncio.TimeoutError,
        socket.gaierror,
    ]


@pytest.mark.parametrize("cls", aiohttp_classes(), ids=lambda c: f"{c.__module__}.{c.__qualname__}")
@pytest.mark.parametrize("proxy", [None, "http://user:secret@proxy:3128"])
def test_every_aiohttp_exception_is_translated_to_one_line(
    cls: type[BaseException], proxy: str | None
) -> None:
    exc = _build_from_signature(cls, _aiohttp_value)
    assert isinstance(exc, Exception)
    sdk = aiohttp_error_as_botocore(exc, url=URL_TEXT, proxy=proxy)
    err = translate_error(sdk, what="Kinesis stream 'k'", region="us-east-1")
    assert isinstance(err, ProducerError)
    assert err.message and "\n" not in err.message
    assert "secret" not in err.message


def _urllib3_value(name: str) -> Any:
    values: dict[str, Any] = {
        "pool": SimpleNamespace(host="127.0.0.1", port=1),
        "conn": SimpleNamespace(host="127.0.0.1", port=1),
        "url": URL_TEXT,
        "reason": ConnectionRefusedError(111, TWO_LINES),
        "error": ConnectionRefusedError(111, TWO_LINES),
        "retries": 0,
        "partial": 1,
        "expected": 2,
        "length": b"zz",
        "response": SimpleNamespace(tell=lambda: 0, length_remaining=1),
        "defects": [TWO_LINES],
        "unparsed_data": TWO_LINES,
        "location": URL_TEXT,
        "scheme": "gopher",
        "host": "127.0.0.1",
    }
    return values.get(name, TWO_LINES)


@pytest.mark.parametrize("cls", list(subclasses(uexc.HTTPError)), ids=lambda c: c.__qualname__)
def test_every_urllib3_exception_is_translated_to_one_line(cls: type[BaseException]) -> None:
    exc = _build_from_signature(cls, _urllib3_value)
    assert isinstance(exc, Exception)
    sdk = urllib3_error_as_botocore(exc, url=URL_TEXT, proxy="http://user:secret@proxy:3128")
    err = translate_error(sdk, what="Firehose stream 'f'", region="us-east-1")
    assert isinstance(err, ProducerError)
    assert err.message and "\n" not in err.message
    assert "secret" not in err.message
