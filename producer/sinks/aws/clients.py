"""AWS clients and the translation of AWS errors, in one place.

Clients are aiobotocore clients built from the standard credential chain (profiles,
SSO, environment, instance roles), the region and endpoint resolution of botocore
(``AWS_ENDPOINT_URL`` included), with the SDK's own retries switched off: the
producer retries itself so that every attempt is counted. Credentials are never
printed or logged.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import botocore.exceptions as bexc

from producer.delivery.retry import THROTTLING_CODES, TransportError
from producer.errors import ConfigError

__all__ = ["AwsOptions", "ClientHolder", "translate_error"]

# Error codes a call may succeed after (besides throttling and any HTTP 5xx).
_RETRYABLE_CODES = frozenset(
    {"InternalFailure", "InternalError", "InternalServerError", "ServiceUnavailable", "RequestTimeout",
     "RequestTimeoutException", "ServiceUnavailableException"}
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class AwsOptions:
    """Where and as whom to call AWS. ``None`` means botocore's own resolution."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    max_pool_connections: int = 10


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

            try:
                session = AioSession(profile=self.options.profile)
                self.session = session
                config = AioConfig(
                    retries={"total_max_attempts": 1},
                    max_pool_connections=self.options.max_pool_connections,
                    connect_timeout=5,
                    read_timeout=30,
                )
                self._client = await self._stack.enter_async_context(
                    session.create_client(
                        self.service,
                        region_name=self.options.region,
                        endpoint_url=self.options.endpoint_url,
                        config=config,
                    )
                )
            except bexc.ProfileNotFound as exc:
                msg = f"AWS profile {self.options.profile!r} not found"
                raise ConfigError(msg) from exc
            except bexc.NoRegionError as exc:
                msg = "no AWS region: set --region, NETFLIX_PRODUCER_REGION or AWS_DEFAULT_REGION"
                raise ConfigError(msg) from exc
        return self._client

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


def translate_error(exc: Exception, *, what: str, region: str) -> TransportError:
    """An SDK error as a :class:`TransportError` with a one-line, user-facing message.

    ``what`` names the destination, e.g. ``Firehose stream 'netflix-events'``.
    """
    if isinstance(exc, bexc.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", "")) or code
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "ResourceNotFoundException":
            return TransportError(code, f"{what} not found in {region}", retryable=False)
        if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
            return TransportError(code, f"access denied to {what} in {region}: {message}", retryable=False)
        if code in ("UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
                    "ExpiredTokenException", "ExpiredToken"):  # fmt: skip
            return TransportError(code, f"AWS rejected the credentials ({code}): {message}", retryable=False)
        retryable = status >= 500 or code in THROTTLING_CODES or code in _RETRYABLE_CODES
        if retryable:
            return TransportError(code, message, retryable=True)
        return TransportError(code, f"{what}: {code}: {message}", retryable=False)
    if isinstance(
        exc, bexc.NoCredentialsError | bexc.PartialCredentialsError | bexc.CredentialRetrievalError
    ):
        return TransportError(
            "NoCredentials",
            "no AWS credentials found: set AWS_PROFILE (or --profile), AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, or run 'aws configure' / 'aws sso login'",
            retryable=False,
        )
    if isinstance(exc, bexc.EndpointConnectionError | bexc.ConnectTimeoutError):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "the endpoint")
        return TransportError("EndpointConnectionError", f"cannot reach {url}", retryable=True)
    if isinstance(exc, bexc.ReadTimeoutError | bexc.ConnectionClosedError | bexc.ConnectionError):
        return TransportError("ConnectionClosedError", f"connection to AWS failed: {exc}", retryable=True)
    if isinstance(exc, bexc.ParamValidationError):
        return TransportError("ParamValidationError", f"{what}: {exc}", retryable=False)
    if isinstance(exc, bexc.BotoCoreError):
        return TransportError(type(exc).__name__, str(exc), retryable=False)
    if isinstance(exc, OSError):
        return TransportError("EndpointConnectionError", f"connection to AWS failed: {exc}", retryable=True)
    raise exc
