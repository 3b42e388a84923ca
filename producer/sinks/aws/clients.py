"""AWS clients and the translation of AWS errors, in one place.

Clients are botocore clients (aiobotocore for the sinks, plain botocore for the
blocking readers) built from the standard credential chain (profiles, SSO,
environment, instance roles) and the region and endpoint resolution of botocore
(``AWS_ENDPOINT_URL`` included), all by the same code. The sinks switch the SDK's
own retries off: the producer retries itself so that every attempt is counted.
Credentials are never printed or logged.

Every error of the SDK, and of the HTTP libraries under the fast transport, becomes a
:class:`~producer.errors.TransportError` (a :class:`~producer.errors.ProducerError`
with a one-line message) through :func:`translate_error`; the HTTP libraries' errors
first become the botocore error botocore itself would have raised for them
(:func:`aiohttp_error_as_botocore`, :func:`urllib3_error_as_botocore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.exceptions as bexc

from producer.errors import ConfigError, SinkError, TransportError
from producer.sinks.base import THROTTLING_CODES

__all__ = [
    "AwsOptions",
    "ClientHolder",
    "aiohttp_error_as_botocore",
    "sync_client",
    "translate_error",
    "urllib3_error_as_botocore",
]

# Error codes a call may succeed after (besides throttling and any HTTP 5xx).
_RETRYABLE_CODES = frozenset(
    {"InternalFailure", "InternalError", "InternalServerError", "ServiceUnavailable", "RequestTimeout",
     "RequestTimeoutException", "ServiceUnavailableException"}
)  # fmt: skip
_ACCESS_DENIED_CODES = frozenset(
    {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "AllAccessDisabled"}
)
_BAD_CREDENTIALS_CODES = frozenset(
    {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
     "ExpiredTokenException", "ExpiredToken", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
)  # fmt: skip
#: How a service is named in messages.
_SERVICE_NAMES = {"firehose": "Firehose", "kinesis": "Kinesis", "s3": "S3"}
_NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE (or --profile), AWS_ACCESS_KEY_ID/"
    "AWS_SECRET_ACCESS_KEY, or run 'aws configure' / 'aws sso login'"
)
_NO_REGION = "no AWS region: set --region, NETFLIX_PRODUCER_REGION or AWS_DEFAULT_REGION"


@dataclass(frozen=True, slots=True, kw_only=True)
class AwsOptions:
    """Where and as whom to call AWS. ``None`` means botocore's own resolution."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    max_pool_connections: int = 10


def _config_kwargs(options: AwsOptions, *, sdk_retries: bool) -> dict[str, Any]:
    """The client configuration every client of the producer gets."""
    kwargs: dict[str, Any] = {
        "max_pool_connections": options.max_pool_connections,
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    if not sdk_retries:
        kwargs["retries"] = {"total_max_attempts": 1}
    return kwargs


@contextlib.contextmanager
def _creating(options: AwsOptions) -> Iterator[None]:
    """Settings botocore rejects while a client is being made, as one-line ConfigErrors."""
    try:
        yield
    except bexc.ProfileNotFound as exc:
        msg = f"--profile '{options.profile}': no such AWS profile"
        raise ConfigError(msg) from exc
    except bexc.NoRegionError as exc:
        raise ConfigError(_NO_REGION) from exc
    except ValueError as exc:  # botocore rejects a malformed endpoint this way
        if options.endpoint_url is None:
            raise
        msg = f"--endpoint-url '{options.endpoint_url}': {_one_line(str(exc))}"
        raise ConfigError(msg) from exc


class ClientHolder:
    """Creates one aiobotocore client lazily, inside the running event loop, and closes it."""

    def __init__(self, service: str, options: AwsOptions) -> None:
        self.service = service
        self.options = options
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        #: The aiobotocore session of the client (its credential chain), once created.
        self.session: Any = None

    async def get(self) -> Any:
        """The client, created on first use."""
        if self._client is None:
            from aiobotocore.config import AioConfig
            from aiobotocore.session import AioSession

            with _creating(self.options):
                session = AioSession(profile=self.options.profile)
                self.session = session
                self._client = await self._stack.enter_async_context(
                    session.create_client(
                        self.service,
                        region_name=self.options.region,
                        endpoint_url=self.options.endpoint_url,
                        config=AioConfig(**_config_kwargs(self.options, sdk_retries=False)),
                    )
                )
        return self._client

    async def describe_active(
        self, operation: str, *, what: str, result: str, status: str, active: tuple[str, ...], **params: Any
    ) -> tuple[dict[str, Any], str]:
        """A sink's start-up check: call the Describe ``operation`` and refuse a stream whose
        status is not one of ``active``. The description under ``result``, and its status.

        Any error is one line naming ``what`` (a :class:`SinkError`: the run does not start).
        """
        try:
            client = await self.get()
            resp = await getattr(client, operation)(**params)
        except Exception as exc:
            err = translate_error(exc, what=what, region=self.region)
            raise SinkError(err.message) from None
        desc: dict[str, Any] = resp[result]
        state = str(desc.get(status, "?"))
        if state not in active:
            msg = f"{what} is {state}, not ACTIVE"
            raise SinkError(msg)
        return desc, state

    @property
    def region(self) -> str:
        """The client's region (after resolution)."""
        if self._client is None:
            return self.options.region or "?"
        return str(self._client.meta.region_name)

    async def aclose(self) -> None:
        """Close the client and its connection pool."""
        await self._stack.aclose()
        self._client = None


def sync_client(service: str, options: AwsOptions, *, sdk_retries: bool = False) -> Any:
    """A blocking botocore client, made as :class:`ClientHolder` makes its clients.

    ``sdk_retries`` leaves botocore's own retries on (``AWS_MAX_ATTEMPTS``,
    ``AWS_RETRY_MODE``), for readers that do not retry themselves.
    """
    import botocore.session
    from botocore.config import Config

    with _creating(options):
        session = botocore.session.Session(profile=options.profile)
        return session.create_client(
            service,
            region_name=options.region,
            endpoint_url=options.endpoint_url,
            config=Config(**_config_kwargs(options, sdk_retries=sdk_retries)),
        )


def translate_error(exc: Exception, *, what: str, region: str, service: str | None = None) -> TransportError:
    """An SDK error as a :class:`TransportError` with a one-line, user-facing message.

    ``what`` names the destination, e.g. ``Firehose stream 'netflix-events'``. A reader
    of a location (``what`` like ``s3://bucket/prefix``) also gives ``service``
    (botocore's name, e.g. ``s3``): an unreachable endpoint then says which service
    for which location, not only the URL. An exception that is not the SDK's (a bug)
    is raised again.
    """
    err = _translated(exc, service=service, what=what, region=region)
    return TransportError(err.code, _one_line(err.message), retryable=err.retryable)


def _translated(exc: Exception, *, service: str | None, what: str, region: str) -> TransportError:
    if isinstance(exc, bexc.ClientError):
        return _client_error(exc, service=service, what=what, region=region)
    if isinstance(
        exc, bexc.NoCredentialsError | bexc.PartialCredentialsError | bexc.CredentialRetrievalError
    ):
        return TransportError("NoCredentials", _NO_CREDENTIALS, retryable=False)
    if isinstance(exc, bexc.ProfileNotFound):
        return TransportError("ProfileNotFound", f"{exc}", retryable=False)
    if isinstance(exc, bexc.NoRegionError):
        return TransportError("NoRegion", _NO_REGION, retryable=False)
    if isinstance(exc, bexc.EndpointConnectionError | bexc.ConnectTimeoutError):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "the endpoint")
        if service is None:
            return TransportError("EndpointConnectionError", f"cannot reach {url}", retryable=True)
        name = _SERVICE_NAMES.get(service, service)
        message = f"cannot reach {name} for {what} ({url})"
        return TransportError("EndpointConnectionError", message, retryable=True)
    if isinstance(exc, bexc.ReadTimeoutError | bexc.ConnectionClosedError | bexc.ConnectionError):
        return TransportError("ConnectionClosedError", f"connection to AWS failed: {exc}", retryable=True)
    if isinstance(exc, bexc.ParamValidationError):
        return TransportError("ParamValidationError", f"{what}: {exc}", retryable=False)
    if isinstance(exc, bexc.BotoCoreError):
        return TransportError(type(exc).__name__, str(exc) or type(exc).__name__, retryable=False)
    if isinstance(exc, OSError):
        return TransportError("EndpointConnectionError", f"connection to AWS failed: {exc}", retryable=True)
    raise exc


def _client_error(exc: bexc.ClientError, *, service: str | None, what: str, region: str) -> TransportError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "")) or code
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "ResourceNotFoundException":
        return TransportError(code, f"{what} not found in {region}", retryable=False)
    # HEAD answers have no body, so a missing bucket is a bare 404 there.
    if code == "NoSuchBucket" or (code in ("404", "NotFound") and exc.operation_name == "HeadBucket"):
        # Bucket names are global: no region. S3 names the bucket in the error when it can.
        bucket = error.get("BucketName")
        name = f"S3 bucket '{bucket}'" if bucket else what
        return TransportError(code, f"{name} not found", retryable=False)
    if code in _ACCESS_DENIED_CODES:
        return TransportError(code, f"access denied to {what} in {region}: {message}", retryable=False)
    if code in _BAD_CREDENTIALS_CODES:
        return TransportError(code, f"AWS rejected the credentials ({code}): {message}", retryable=False)
    if status >= 500 or code in THROTTLING_CODES or code in _RETRYABLE_CODES:
        return TransportError(code, message, retryable=True)
    return TransportError(code, f"{what}: {code}: {message}", retryable=False)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def aiohttp_error_as_botocore(exc: Exception, *, url: str, proxy: str | None) -> Any:
    """The botocore exception aiobotocore raises for an aiohttp failure (the same mapping)."""
    import aiohttp
    from botocore.httpsession import mask_proxy_url

    if isinstance(exc, aiohttp.ClientSSLError):
        return bexc.SSLError(endpoint_url=url, error=exc)
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return bexc.ProxyConnectionError(proxy_url=mask_proxy_url(proxy), error=exc)
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.http_exceptions.BadStatusLine,
    ):
        return bexc.ConnectionClosedError(error=exc, request=None, endpoint_url=url)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        if str(exc).lower().startswith("connect"):
            return bexc.ConnectTimeoutError(endpoint_url=url, error=exc)
        return bexc.ReadTimeoutError(endpoint_url=url, error=exc)
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientConnectionError | socket.gaierror):
        return bexc.EndpointConnectionError(endpoint_url=url, error=exc)
    if isinstance(exc, asyncio.TimeoutError):
        return bexc.ReadTimeoutError(endpoint_url=url, error=exc)
    return bexc.HTTPClientError(error=exc)


def urllib3_error_as_botocore(exc: Exception, *, url: str, proxy: str | None) -> Any:
    """The botocore exception botocore's own urllib3 session raises for ``exc`` (the same mapping)."""
    import urllib3.exceptions as uexc
    from botocore.httpsession import mask_proxy_url

    if isinstance(exc, uexc.SSLError):
        return bexc.SSLError(endpoint_url=url, error=exc)
    if isinstance(exc, uexc.NewConnectionError | socket.gaierror):
        return bexc.EndpointConnectionError(endpoint_url=url, error=exc)
    if isinstance(exc, uexc.ProxyError):
        return bexc.ProxyConnectionError(proxy_url=mask_proxy_url(proxy), error=exc)
    if isinstance(exc, uexc.ConnectTimeoutError):
        return bexc.ConnectTimeoutError(endpoint_url=url, error=exc)
    if isinstance(exc, uexc.ReadTimeoutError):
        return bexc.ReadTimeoutError(endpoint_url=url, error=exc)
    if isinstance(exc, uexc.ProtocolError):
        return bexc.ConnectionClosedError(error=exc, request=None, endpoint_url=url)
    return bexc.HTTPClientError(error=exc)
