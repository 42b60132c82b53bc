"""The lake's buckets on an S3-compatible store: created idempotently, checked, and described.

Every call goes through `_call`, which turns the store's failures into
PlatformErrors that name the endpoint and the bucket (never a key), and retries
an unreachable endpoint with backoff for `lake.s3.retry_seconds`.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from core.errors import PlatformError
from core.settings_lake import S3Settings

T = TypeVar("T")
AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId", "AccessDenied", "403", "Forbidden"}
MISSING_CODES = {"NoSuchBucket", "404", "NotFound"}
UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError, ReadTimeoutError)


class Store(Protocol):
    """What the bucket operations need of the lake: core.lake.Lake on the s3 backend (which calls them)."""

    s3: S3Settings

    def buckets(self) -> dict[str, str]: ...

    def fsspec_options(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class BucketUsage:
    layer: str
    bucket: str
    objects: int
    bytes: int
    present: bool = True


class StoreUnreachable(PlatformError):
    """Nothing answers at the lake's endpoint."""


class StoreRefused(PlatformError):
    """The store answers but refuses the lake's keys."""


@dataclass(frozen=True)
class StoreProbe:
    """One quick look at the store: `status` is ok, unreachable, refused or error; `buckets` is empty unless ok."""

    endpoint: str
    status: str
    detail: str
    buckets: list[BucketUsage]


def client(lake: Store) -> Any:
    """A botocore S3 client for the lake's endpoint; botocore's own retries are off, `_call` does them."""
    options = lake.fsspec_options()
    config = Config(
        **{k: v for k, v in options["config_kwargs"].items() if k != "retries"},
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=options["endpoint_url"],
        region_name=lake.s3.region,
        aws_access_key_id=options["key"],
        aws_secret_access_key=options["secret"],
        config=config,
    )


def ensure_buckets(lake: Store, on_create: Callable[[str], None] | None = None) -> list[str]:
    """Create each layer's bucket unless it exists; return the buckets created."""
    s3 = client(lake)
    created = []
    for bucket in lake.buckets().values():
        if _bucket_exists(lake, s3, bucket):
            continue
        try:
            _call(lake, bucket, functools.partial(s3.create_bucket, Bucket=bucket, **_location(lake)))
        except PlatformError as exc:
            raise PlatformError(f"{exc}\nThe bucket could not be created; create it yourself, e.g. `mc mb <alias>/{bucket}`.") from None
        if on_create is not None:
            on_create(bucket)
        created.append(bucket)
    return created


def usage(lake: Store) -> list[BucketUsage]:
    """Object count and total size of each layer's bucket (below the prefix)."""
    s3 = client(lake)
    result = []
    for layer, bucket in lake.buckets().items():
        objects = size = 0
        present = _bucket_exists(lake, s3, bucket)
        if present:
            for page in _call(lake, bucket, functools.partial(_pages, s3, bucket, lake.s3.prefix)):
                objects += len(page)
                size += sum(item["Size"] for item in page)
        result.append(BucketUsage(layer, bucket, objects, size, present))
    return result


def probe(lake: Store) -> StoreProbe:
    """Is the store reachable, are the keys accepted, is each layer's bucket there and how full is it?

    Made for health checks: no retries (an unreachable endpoint is reported at once), never raises,
    and names the endpoint but never a key.
    """
    quick = copy.copy(lake)
    quick.s3 = lake.s3.model_copy(update={"retry_seconds": 0})
    endpoint = lake.s3.endpoint_url
    try:
        buckets = usage(quick)
    except StoreUnreachable as exc:
        return StoreProbe(endpoint, "unreachable", str(exc), [])
    except StoreRefused as exc:
        return StoreProbe(endpoint, "refused", str(exc), [])
    except PlatformError as exc:
        return StoreProbe(endpoint, "error", str(exc), [])
    missing = [b.bucket for b in buckets if not b.present]
    detail = "reachable, keys accepted" + (f"; missing buckets: {', '.join(missing)}" if missing else "")
    return StoreProbe(endpoint, "ok", detail, buckets)


def missing_buckets(lake: Store) -> list[str]:
    """The layers' buckets that do not exist on the store."""
    s3 = client(lake)
    return [bucket for bucket in lake.buckets().values() if not _bucket_exists(lake, s3, bucket)]


def _bucket_exists(lake: Store, s3: Any, bucket: str) -> bool:
    try:
        _call(lake, bucket, lambda: s3.list_objects_v2(Bucket=bucket, MaxKeys=1))
        return True
    except _Missing:
        return False


def _pages(s3: Any, bucket: str, prefix: str) -> list[list[dict[str, Any]]]:
    return [page.get("Contents", []) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)]


def _location(lake: Store) -> dict:
    # us-east-1 is S3's default and must not be sent as a location constraint.
    if lake.s3.region == "us-east-1":
        return {}
    return {"CreateBucketConfiguration": {"LocationConstraint": lake.s3.region}}


class _Missing(Exception):
    pass


def _call(lake: Store, bucket: str, request: Callable[[], T]) -> T:
    """Run one request; retry an unreachable endpoint with backoff, translate every failure."""
    endpoint = lake.s3.endpoint_url
    deadline = time.monotonic() + lake.s3.retry_seconds
    delay, attempts = 0.5, 0
    while True:
        attempts += 1
        try:
            return request()
        except UNREACHABLE as exc:
            if time.monotonic() + delay > deadline:
                raise StoreUnreachable(
                    f"The lake's S3 endpoint {endpoint} is unreachable (bucket '{bucket}'): {type(exc).__name__}, "
                    f"{attempts} attempt{'s' if attempts != 1 else ''} over {lake.s3.retry_seconds:g} s. "
                    "Start the store (`just minio`) or fix lake.s3.endpoint in config.yaml."
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in MISSING_CODES:
                raise _Missing(bucket) from None
            if code in AUTH_CODES:
                raise StoreRefused(
                    f"The S3 store at {endpoint} refused the lake's credentials for bucket '{bucket}' ({code}). "
                    f"Check {lake.s3.access_key_env} and {lake.s3.secret_key_env} in the environment or `.env`."
                ) from None
            raise PlatformError(
                f"The S3 store at {endpoint} failed on bucket '{bucket}': {code} {error.get('Message', '')}".rstrip()
            ) from None
