"""The fast transport: PutRecordBatch and PutRecords built, signed and sent directly.

botocore walks its service model three times per record (validate, serialise, parse
the response): ~6.5 µs of CPU per record, most of a core at 120k records/s. These
transports put the same JSON 1.1 request on the wire without that walk: the body is
assembled from base64 chunks, signed with botocore's own :class:`SigV4Auth`, sent on a
pooled aiohttp session and the response read with :mod:`json`.

What stays botocore's, so that both transports reach the same place as the same
identity: the credential chain (profiles, SSO, refresh; frozen again for every call),
region and endpoint resolution (``AWS_ENDPOINT_URL``, ``--endpoint-url``, FIPS,
dual-stack), the CA bundle and proxy settings, the start-up check (DescribeDeliveryStream,
DescribeStreamSummary) and the error messages: a failed call is turned into the error a
botocore client would have raised, then translated by :func:`producer.sinks.aws.clients.translate_error`.
Retries, backoff, dead letters and accounting stay :class:`~producer.delivery.retry.DeliverySink`'s.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import ssl
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import botocore.exceptions as bexc

from producer.errors import TransportError
from producer.sinks.aws.clients import (
    AwsOptions,
    ClientHolder,
    aiohttp_error_as_botocore,
    translate_error,
    urllib3_error_as_botocore,
)
from producer.sinks.aws.firehose import FirehoseCalls, FirehoseTransport
from producer.sinks.aws.kinesis import KinesisCalls, KinesisTransport

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "FastFirehoseSyncTransport",
    "FastFirehoseTransport",
    "FastKinesisSyncTransport",
    "FastKinesisTransport",
    "SignedJsonClient",
    "SyncSignedJsonClient",
    "error_response",
]

logger = logging.getLogger(__name__)

#: Seconds an idle pooled connection is kept (aiobotocore's default).
_KEEPALIVE_S = 12.0


def error_response(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """A JSON 1.1 error response as botocore's parser reads it (``ClientError.response``).

    The code is ``__type`` without its namespace (``com.amazonaws...#Code``) or suffix
    (``Code:http://...``), else the HTTP status; the message is ``message`` or ``Message``.
    A 5xx with an empty or HTML body is a generic error named by its status.
    """
    metadata: dict[str, Any] = {"HTTPStatusCode": status}
    if "x-amzn-requestid" in headers:
        metadata["RequestId"] = headers["x-amzn-requestid"]
    stripped = body.strip()
    if status >= 500 and (not stripped or stripped.startswith(b"<html>")):
        error = {"Code": str(status), "Message": http.client.responses.get(status, "")}
        return {"Error": error, "ResponseMetadata": metadata}
    parsed: Any = {}
    if body:
        text = body.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = {"message": text}
    if not isinstance(parsed, dict):
        parsed = {"message": str(parsed)}
    error = {"Message": parsed.get("message", parsed.get("Message", "")), "Code": ""}
    code = parsed.get("__type", str(status))
    if code is not None:
        code = str(code).split(":", 1)[0].rsplit("#", 1)[-1]
        query_error = headers.get("x-amzn-query-error", "").split(";")
        if len(query_error) == 2 and query_error[0]:
            error["QueryErrorCode"], error["Type"], code = code, query_error[1], query_error[0]
        error["Code"] = code
    return {"Error": error, "ResponseMetadata": metadata}


def _wire_target(meta: Any, operation: str) -> tuple[str, str, str, dict[str, str]]:
    """(URL, region, signing name, headers) of a JSON operation, from a botocore client's ``meta``."""
    model = meta.service_model
    endpoint = str(meta.endpoint_url)
    # botocore's URL for a JSON operation: the endpoint, with "/" when it has no path.
    url = endpoint if urlsplit(endpoint).path else endpoint + "/"
    headers = {
        "X-Amz-Target": f"{model.metadata['targetPrefix']}.{operation}",
        "Content-Type": f"application/x-amz-json-{model.metadata['jsonVersion']}",
    }
    return url, str(meta.region_name), str(model.signing_name), headers


def _proxy_for(meta: Any, url: str) -> str | None:
    """The proxy botocore would use for ``url`` (client config, then the environment)."""
    from botocore.httpsession import ProxyConfiguration
    from botocore.utils import get_environ_proxies

    config = meta.config
    proxies = config.proxies or get_environ_proxies(url)
    proxy: str | None = ProxyConfiguration(proxies, config.proxies_config).proxy_url_for(url)
    return proxy


def _sign(
    frozen: Any, url: str, headers: Mapping[str, str], body: bytes, signing_name: str, region: str
) -> dict[str, str]:
    """The headers of a POST of ``body`` to ``url``, signed (SigV4) with frozen credentials."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(frozen, signing_name, region).add_auth(request)
    signed = dict(request.headers.items())
    # Like aiobotocore: the responses are small JSON, never worth decompressing.
    signed["Accept-Encoding"] = "identity"
    return signed


def _check_status(status: int, headers: Mapping[str, str], payload: bytes, operation: str) -> None:
    """Raise the ``ClientError`` botocore would raise for a non-2xx answer."""
    if status >= 301:
        lowered = {k.lower(): v for k, v in headers.items()}
        raise bexc.ClientError(error_response(status, lowered, payload), operation)


def _parse_payload(payload: bytes, status: int, operation: str) -> Any:
    """The parsed JSON of a 2xx answer; ``{}`` when empty or not JSON (as botocore reads it)."""
    if not payload:
        return {}
    try:
        return json.loads(payload)
    except ValueError:
        # botocore reads an unparseable 2xx body as a response without fields.
        logger.debug("%s: a %d response that is not JSON", operation, status)
        return {}


class SignedJsonClient:
    """Posts one AWS JSON 1.1 operation, signed with botocore's SigV4, over aiohttp.

    Where and as whom come from the aiobotocore client of ``holder``: its endpoint URL,
    region, signing name, target prefix, timeouts and pool size, and its session's
    credentials. The aiohttp session is created on first use, inside the running loop.
    """

    def __init__(self, holder: ClientHolder, *, operation: str, what: str) -> None:
        self._holder = holder
        self.operation = operation
        self._what = what
        self._lock = asyncio.Lock()
        self._http: aiohttp.ClientSession | None = None
        self._credentials: Any = None
        self._url = ""
        self._proxy: str | None = None
        self._region = ""
        self._signing_name = ""
        self._headers: dict[str, str] = {}

    async def endpoint(self) -> str:
        """The URL calls are posted to (botocore's resolution for the operation)."""
        await self._open()
        return self._url

    async def _open(self) -> None:
        if self._http is not None:
            return
        # Outside the lock: when the client cannot be created (no credentials, a slow
        # failing provider), concurrent calls fail together, as the botocore transport's do.
        client = await self._holder.get()
        async with self._lock:
            if self._http is not None:
                return
            import aiohttp
            from botocore.httpsession import get_cert_path

            meta = client.meta
            self._url, self._region, self._signing_name, self._headers = _wire_target(meta, self.operation)
            config = meta.config
            self._proxy = _proxy_for(meta, self._url)
            self._credentials = await self._holder.session.get_credentials()
            tls: ssl.SSLContext | bool = True  # aiohttp's default; only https uses it
            if self._url.startswith("https"):
                verify = (
                    self._holder.session.get_config_variable("ca_bundle")
                    or os.environ.get("REQUESTS_CA_BUNDLE")
                    or True
                )
                tls = await asyncio.to_thread(ssl.create_default_context, cafile=get_cert_path(verify))
            connector = aiohttp.TCPConnector(
                limit=int(config.max_pool_connections), ssl=tls, keepalive_timeout=_KEEPALIVE_S
            )
            self._http = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=config.connect_timeout, sock_read=config.read_timeout
                ),
                auto_decompress=False,
                skip_auto_headers=("Content-Type",),
            )

    async def signed_headers(self, body: bytes) -> dict[str, str]:
        """The headers of a call posting ``body``, signed (SigV4) with the current credentials.

        Credentials are frozen for every call: refreshable ones (SSO, assumed roles,
        credential processes) refresh as botocore's own client would refresh them.
        """
        await self._open()
        if self._credentials is None:
            raise bexc.NoCredentialsError()
        frozen = await self._credentials.get_frozen_credentials()
        return _sign(frozen, self._url, self._headers, body, self._signing_name, self._region)

    async def call(self, body: bytes) -> Any:
        """Post ``body``; the parsed JSON of a 2xx response, else raise :class:`TransportError`."""
        try:
            headers = await self.signed_headers(body)
            assert self._http is not None
            try:
                async with self._http.post(self._url, data=body, headers=headers, proxy=self._proxy) as resp:
                    status, payload = resp.status, await resp.read()
            except Exception as exc:
                raise aiohttp_error_as_botocore(exc, url=self._url, proxy=self._proxy) from exc
            _check_status(status, resp.headers, payload, self.operation)
        except TransportError:
            raise
        except Exception as exc:
            raise translate_error(exc, what=self._what, region=self._holder.region) from None
        return _parse_payload(payload, status, self.operation)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            await self._http.close()
            self._http = None


class FastFirehoseTransport(FirehoseTransport):
    """:class:`FirehoseTransport` with PutRecordBatch built, signed and sent directly.

    The start-up check (DescribeDeliveryStream) still goes through aiobotocore, on the
    client whose endpoint, region and credentials the calls reuse.
    """

    def __init__(self, *, stream: str, options: AwsOptions | None = None) -> None:
        super().__init__(stream=stream, options=options)
        self.wire = SignedJsonClient(self._holder, operation="PutRecordBatch", what=self.what)

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        return self.calls.failures(await self.wire.call(self.calls.body(records)))

    async def aclose(self) -> None:
        await self.wire.aclose()
        await super().aclose()


class FastKinesisTransport(KinesisTransport):
    """:class:`KinesisTransport` with PutRecords built, signed and sent directly."""

    def __init__(
        self, *, stream: str, partition_key: str = "user_id", options: AwsOptions | None = None, seed: int = 0
    ) -> None:
        super().__init__(stream=stream, partition_key=partition_key, options=options, seed=seed)
        self.wire = SignedJsonClient(self._holder, operation="PutRecords", what=self.what)

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        return self.calls.failures(await self.wire.call(self.calls.body(records)))

    async def aclose(self) -> None:
        await self.wire.aclose()
        await super().aclose()


# -- blocking (threads, gevent, locust) ---------------------------------------------------


class SyncSignedJsonClient:
    """:class:`SignedJsonClient`, blocking: posts over a ``urllib3.PoolManager``.

    Where and as whom come from a boto3/botocore ``client`` (endpoint URL, region,
    signing name, target prefix, timeouts, pool size, proxies) and ``credentials`` (the
    session's, frozen again for every call). urllib3 uses plain sockets, so under gevent
    (locust) calls yield to other greenlets while they wait.
    """

    def __init__(self, client: Any, credentials: Any, *, operation: str, what: str) -> None:
        import urllib3
        from botocore.httpsession import get_cert_path

        self.operation = operation
        self._what = what
        self._credentials = credentials
        meta = client.meta
        self._url, self._region, self._signing_name, self._headers = _wire_target(meta, operation)
        self._proxy = _proxy_for(meta, self._url)
        config = meta.config
        verify = getattr(getattr(client, "_endpoint", None), "http_session", None)
        ca = getattr(verify, "_verify", True) if verify is not None else True
        kwargs: dict[str, Any] = {
            "maxsize": int(config.max_pool_connections),
            "timeout": urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout),
            "retries": False,
        }
        if self._url.startswith("https"):
            if ca is False:
                kwargs["cert_reqs"] = "CERT_NONE"
            else:
                kwargs["cert_reqs"] = "CERT_REQUIRED"
                kwargs["ca_certs"] = get_cert_path(ca)
        self._http: urllib3.PoolManager = (
            urllib3.ProxyManager(self._proxy, **kwargs) if self._proxy else urllib3.PoolManager(**kwargs)
        )

    @property
    def endpoint(self) -> str:
        """The URL calls are posted to (botocore's resolution for the operation)."""
        return self._url

    def signed_headers(self, body: bytes) -> dict[str, str]:
        """The headers of a call posting ``body``, signed (SigV4) with the current credentials."""
        if self._credentials is None:
            raise bexc.NoCredentialsError()
        frozen = self._credentials.get_frozen_credentials()
        return _sign(frozen, self._url, self._headers, body, self._signing_name, self._region)

    def call(self, body: bytes) -> Any:
        """Post ``body``; the parsed JSON of a 2xx response, else raise :class:`TransportError`."""
        try:
            headers = self.signed_headers(body)
            try:
                resp = self._http.request(
                    "POST", self._url, body=body, headers=headers, redirect=False, decode_content=False
                )
            except Exception as exc:
                raise urllib3_error_as_botocore(exc, url=self._url, proxy=self._proxy) from exc
            status, payload = resp.status, resp.data
            _check_status(status, resp.headers, payload, self.operation)
        except TransportError:
            raise
        except Exception as exc:
            raise translate_error(exc, what=self._what, region=self._region) from None
        return _parse_payload(payload, status, self.operation)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.clear()


class FastFirehoseSyncTransport:
    """:class:`~producer.sinks.aws.firehose.FirehoseSyncTransport` with PutRecordBatch built,
    signed and sent directly (for locust). ``client`` is the boto3 client it stands in for
    (endpoint, region, config); ``credentials`` its session's."""

    name = "firehose"

    def __init__(self, *, stream: str, client: Any, credentials: Any) -> None:
        self.calls = FirehoseCalls(stream)
        self.client = client
        self.wire = SyncSignedJsonClient(
            client, credentials, operation="PutRecordBatch", what=self.calls.what
        )

    @property
    def stream(self) -> str:
        return self.calls.stream

    def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        return self.calls.failures(self.wire.call(self.calls.body(records)))


class FastKinesisSyncTransport:
    """:class:`~producer.sinks.aws.kinesis.KinesisSyncTransport` with PutRecords built, signed
    and sent directly (for locust)."""

    name = "kinesis"

    def __init__(
        self, *, stream: str, client: Any, credentials: Any, partition_key: str = "user_id", seed: int = 0
    ) -> None:
        self.calls = KinesisCalls(stream, partition_key=partition_key, seed=seed)
        self.client = client
        self.wire = SyncSignedJsonClient(client, credentials, operation="PutRecords", what=self.calls.what)

    @property
    def stream(self) -> str:
        return self.calls.stream

    def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        return self.calls.failures(self.wire.call(self.calls.body(records)))
