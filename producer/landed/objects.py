"""Reading what landed: the data objects of a local lake or an S3 prefix, and their lines.

One reader for every command that looks at a destination (``lake summary``,
``verify``), so that they agree on what an object is and how it is read:

- **Which objects**: every object under the lake directory or ``s3://bucket/prefix``
  except what is not Firehose data. A path part starting with ``.`` or ``_`` is hidden
  (in-progress temporaries, Spark's ``_SUCCESS`` and ``_temporary/``: the convention
  Hadoop, Spark and Athena follow); ``.json`` files (run summaries, data-quality
  reports), ``.parquet`` (the processed zone) and ``.crc`` (Spark checksums) are the
  local pipeline's, written beside the raw zone; S3 folder markers (``key/``) are empty.
- **How it is read**: GZIP is told by the content's magic bytes, not by a ``.gz``
  name (a real GZIP body always starts with them, and a plain body under a ``.gz``
  name, as some emulators write, still reads); the lines come in batches of about
  a mebibyte, so an object of any size is read in bounded memory.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from producer.errors import ConfigError, ProducerError
from producer.sinks.aws.clients import AwsOptions, sync_client, translate_error

__all__ = [
    "LakeSource",
    "S3Source",
    "StoredObject",
    "UnreadableObjectError",
    "is_data_object",
    "record_lines",
]

logger = logging.getLogger(__name__)

#: Bytes read from an object at a time (after decompression).
READ_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
#: Suffixes of the files the local pipeline writes beside the raw zone.
_NOT_DATA_SUFFIXES = frozenset({".json", ".parquet", ".crc"})
#: Translated S3 errors that are the user's input (a bucket, credentials, a profile, a region).
_BAD_INPUT_CODES = frozenset({"NoSuchBucket", "NoCredentials", "ProfileNotFound", "NoRegion"})


def is_data_object(key: str) -> bool:
    """Whether ``key`` (relative to the lake directory or the S3 prefix) is a data object."""
    if not key or key.endswith("/"):
        return False
    path = PurePosixPath(key)
    if any(part.startswith((".", "_")) for part in path.parts):
        return False
    return path.suffix not in _NOT_DATA_SUFFIXES


class UnreadableObjectError(ProducerError):
    """An object's GZIP body is damaged; the lines before the damage were read."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One data object of a destination, opened for reading."""

    #: The key: relative to the lake directory, or the full S3 key.
    key: str
    #: Its size as stored (compressed, if it is GZIP).
    size: int
    #: Its modification time, epoch seconds.
    modified: float
    #: Up to n bytes, ``b""`` at the end; errors already translated.
    read: Callable[[int], bytes]
    close: Callable[[], None]


def record_lines(stored: StoredObject) -> Iterator[list[bytes]]:
    """The object's non-empty lines (without the newline), in batches, then closes it.

    Raises :class:`UnreadableObjectError` when a GZIP body is damaged, after the
    batches read before the damage.
    """
    try:
        carry = b""
        for chunk in _decoded(stored):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            if batch := [line for line in lines if line]:
                yield batch
        if carry:
            yield [carry]
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        msg = f"object {stored.key} is not readable gzip: {exc}"
        raise UnreadableObjectError(msg) from exc
    finally:
        stored.close()


def _decoded(stored: StoredObject) -> Iterator[bytes]:
    """The object's bytes in chunks, gunzipped when it is GZIP (told by its magic bytes)."""
    head = stored.read(READ_BYTES)
    while 0 < len(head) < len(_GZIP_MAGIC):  # a short read; S3 bodies may give one
        more = stored.read(READ_BYTES)
        if not more:
            break
        head += more
    if not head.startswith(_GZIP_MAGIC):
        if stored.key.endswith(".gz") and head:
            logger.debug("object %s is named .gz but is not GZIP; read as plain", stored.key)
        while head:
            yield head
            head = stored.read(READ_BYTES)
        return
    with gzip.GzipFile(fileobj=_Prepended(head, stored.read), mode="rb") as unzipped:
        while chunk := unzipped.read(READ_BYTES):
            yield chunk


class _Prepended(io.RawIOBase):
    """A readable stream of ``head`` followed by what ``read`` returns."""

    def __init__(self, head: bytes, read: Callable[[int], bytes]) -> None:
        super().__init__()
        self._head = head
        self._read = read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._head[: len(view)]
        if data:
            self._head = self._head[len(data) :]
        else:
            data = self._read(len(view))
        view[: len(data)] = data
        return len(data)


@dataclass(frozen=True, slots=True, kw_only=True)
class LakeSource:
    """A local lake: every data object (see :func:`is_data_object`) under ``root``."""

    root: Path

    def describe(self) -> str:
        """The destination in a few words."""
        return f"lake {self.root}"

    def objects(self, *, skip: Path | None = None) -> Iterator[StoredObject]:
        """Check the directory now; the iterator opens one object at a time, in path order.

        ``skip`` is a file not to read even if it is in the lake (the manifest).
        """
        root = Path(self.root)
        if not root.is_dir():
            msg = f"--lake-dir '{root}' does not exist or is not a directory"
            raise ConfigError(msg)
        return self._objects(root, skip.resolve() if skip is not None else None)

    @staticmethod
    def _objects(root: Path, skip: Path | None) -> Iterator[StoredObject]:
        paths = sorted(
            p for p in root.rglob("*") if p.is_file() and is_data_object(p.relative_to(root).as_posix())
        )
        for path in paths:
            if skip is not None and path.resolve() == skip:
                continue
            try:
                file = path.open("rb")
                stat = os.fstat(file.fileno())
            except OSError as exc:
                msg = f"cannot read lake object '{path}': {exc.strerror or exc}"
                raise ProducerError(msg) from exc
            yield StoredObject(
                key=path.relative_to(root).as_posix(),
                size=stat.st_size,
                modified=stat.st_mtime,
                read=_local_reader(path, file),
                close=file.close,
            )


def _local_reader(path: Path, file: io.BufferedReader) -> Callable[[int], bytes]:
    def read(n: int) -> bytes:
        try:
            return file.read(n)
        except OSError as exc:
            msg = f"cannot read lake object '{path}': {exc.strerror or exc}"
            raise ProducerError(msg) from exc

    return read


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Source:
    """Every data object (see :func:`is_data_object`) under ``s3://bucket/prefix``.

    ``region``, ``profile`` and ``endpoint_url`` configure the default client, built
    as the sinks build theirs (with botocore's own retries left on, as nothing else
    retries a read); None leaves them to botocore's usual resolution (which honours
    ``AWS_ENDPOINT_URL``). ``client`` is a boto3/botocore S3 client to use instead.
    """

    bucket: str
    prefix: str = ""
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    client: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
    ) -> S3Source:
        """Parse ``s3://bucket/prefix`` (the prefix may be empty)."""
        scheme, sep, rest = url.partition("://")
        bucket, _, prefix = rest.partition("/")
        if scheme != "s3" or not sep or not bucket:
            msg = f"--s3 '{url}': expected s3://bucket/prefix"
            raise ConfigError(msg)
        return cls(bucket=bucket, prefix=prefix, region=region, profile=profile, endpoint_url=endpoint_url)

    def describe(self) -> str:
        """The destination in a few words."""
        return f"s3://{self.bucket}/{self.prefix}"

    def objects(self, *, skip: Path | None = None) -> Iterator[StoredObject]:
        """Build the client now (credential and profile errors fail fast); list lazily."""
        return self._objects(self._client())

    def _client(self) -> Any:
        if self.client is not None:
            return self.client
        options = AwsOptions(region=self.region, profile=self.profile, endpoint_url=self.endpoint_url)
        return sync_client("s3", options, sdk_retries=True)

    def _objects(self, client: Any) -> Iterator[StoredObject]:
        with self._errors(client):
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for item in page.get("Contents", ()):
                    key: str = item["Key"]
                    if not is_data_object(key.removeprefix(self.prefix)):
                        continue
                    body = client.get_object(Bucket=self.bucket, Key=key)["Body"]
                    yield StoredObject(
                        key=key,
                        size=int(item.get("Size", 0)),
                        modified=item["LastModified"].timestamp(),
                        read=self._reader(client, body, key),
                        close=body.close,
                    )

    def _reader(self, client: Any, body: Any, key: str) -> Callable[[int], bytes]:
        def read(n: int) -> bytes:
            with self._errors(client, key):
                data: bytes = body.read(n)
                return data

        return read

    @contextlib.contextmanager
    def _errors(self, client: Any, key: str | None = None) -> Iterator[None]:
        """botocore's errors, through the translator of every AWS call, as one-line errors."""
        from botocore import exceptions as bx

        where = f"s3://{self.bucket}/{key if key is not None else self.prefix}"
        try:
            yield
        except (bx.BotoCoreError, bx.ClientError) as exc:
            region = str(getattr(getattr(client, "meta", None), "region_name", None) or self.region or "?")
            err = translate_error(exc, what=where, region=region, service="s3")
            if err.code in _BAD_INPUT_CODES:
                raise ConfigError(err.message) from exc
            if err.retryable and isinstance(exc, bx.ClientError):
                # A server error or throttling that outlasted botocore's retries: the
                # service's own words name nothing, so say where.
                msg = f"{where}: {err.code}: {err.message}"
                raise ProducerError(msg) from exc
            raise ProducerError(err.message) from exc
