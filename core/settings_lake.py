"""Where the data lives: the lake's layers, on local disk or an S3-compatible store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from core.settings_fields import Strict

# S3 bucket naming rules (3-63 characters, lower case, digits, dots and hyphens).
BucketName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]


class S3BucketSettings(Strict):
    """The bucket that holds each layer of the lake (medallion: bronze, silver, gold)."""

    raw: BucketName = "raw"
    staging: BucketName = "staging"
    curated: BucketName = "curated"


class S3Settings(Strict):
    """An S3-compatible object store (MinIO, AWS S3, ...). Keys come only from the environment."""

    endpoint: str = Field("127.0.0.1:9000", description="host:port of the store (a scheme, if given, must agree with use_tls).")
    region: str = "us-east-1"
    path_style: bool = Field(True, description="Path-style addressing (MinIO); false for virtual-hosted buckets.")
    use_tls: bool = False
    buckets: S3BucketSettings = S3BucketSettings()
    prefix: str = Field("", pattern=r"^([a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*)?$", description="Key prefix inside every bucket.")
    access_key_env: str = Field("LAKE_S3_ACCESS_KEY_ID", description="Environment variable that holds the access key id.")
    secret_key_env: str = Field("LAKE_S3_SECRET_ACCESS_KEY", description="Environment variable that holds the secret key.")
    retry_seconds: float = Field(30, ge=0, description="How long an unreachable endpoint is retried, with backoff.")
    console_port: int = Field(9001, ge=1, le=65535, description="Port of the MinIO web console (`just minio`, `just minio-console`).")

    @model_validator(mode="after")
    def _scheme_agrees_with_tls(self) -> S3Settings:
        scheme = self.endpoint.split("://", 1)[0] if "://" in self.endpoint else None
        if scheme is not None and scheme != ("https" if self.use_tls else "http"):
            raise ValueError(f"endpoint {self.endpoint!r} says {scheme} but use_tls is {str(self.use_tls).lower()}")
        return self

    @property
    def endpoint_host(self) -> str:
        """host:port, without a scheme (DuckDB's form)."""
        return self.endpoint.split("://", 1)[-1].rstrip("/")

    @property
    def endpoint_url(self) -> str:
        return ("https://" if self.use_tls else "http://") + self.endpoint_host


class LakeSettings(Strict):
    """Where the raw, staging and curated layers live."""

    backend: Literal["local", "s3"] = "local"
    root: str = Field("lake", description="Folder of the local lake; relative to data_dir.")
    s3: S3Settings = S3Settings()


@dataclass(frozen=True)
class S3Credentials:
    """The lake's S3 keys, read from the environment at startup; the secret never shows in a repr."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
