"""Amazon Bedrock's runtime client, shared by the Bedrock engine and the Titan embedder: one way to open it and one
way to retry it.

Credentials come only from the standard AWS chain (environment, a named profile with SSO, an instance or task
role); wattbench never reads, stores or logs them, and nothing here returns them. Throttling, 5xx and timeouts
are retried with exponential backoff (botocore's own retries are off, so the attempts counted are the ones
made); a validation error, a missing model or a refused credential is not retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from wattbench.errors import ConfigError, WattbenchError

T = TypeVar("T")

RETRY_CODES = frozenset({
    "ThrottlingException", "TooManyRequestsException", "ServiceUnavailableException", "InternalServerException",
    "ModelNotReadyException", "ModelTimeoutException",
})  # fmt: skip
AUTH_CODES = frozenset({
    "AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException", "InvalidSignatureException",
    "IncompleteSignature", "MissingAuthenticationTokenException",
})  # fmt: skip
NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or name a profile (bedrock.profile, "
    "bedrock_profile in a seed config, or AWS_PROFILE; for SSO run `aws sso login --profile NAME` first), or run "
    "where an instance role applies"
)


class AwsAuthError(WattbenchError):
    """The credentials are missing, expired or refused: no request can succeed."""


class AwsRequestError(WattbenchError):
    """A request failed for good (not retried, or out of attempts); `attempts`: how many were made."""

    def __init__(self, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True)
class Connection:
    """Where Bedrock is called: region and profile (None: the AWS chain's own), and an endpoint URL (a VPC
    endpoint, or a local stub in tests)."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None


def runtime_client(connection: Connection, *, connect_timeout_s: float, read_timeout_s: float, pool: int) -> Any:
    """A bedrock-runtime client (thread-safe, so one serves every worker thread)."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import ProfileNotFound
    except ImportError:
        raise WattbenchError("Amazon Bedrock needs boto3: pip install 'wattbench[bedrock]'") from None
    try:
        session = boto3.Session(profile_name=connection.profile, region_name=connection.region)
    except ProfileNotFound:
        raise ConfigError(
            f"bedrock.profile: no AWS profile named '{connection.profile}' in ~/.aws/config; check the name"
        ) from None
    if not session.region_name:
        raise ConfigError("bedrock.region: no AWS region; set bedrock.region (bedrock_region) or AWS_REGION")
    if session.get_credentials() is None:
        raise AwsAuthError(NO_CREDENTIALS)
    config = Config(connect_timeout=connect_timeout_s, read_timeout=read_timeout_s, max_pool_connections=pool,
                    retries={"total_max_attempts": 1, "mode": "standard"})  # fmt: skip
    return session.client("bedrock-runtime", endpoint_url=connection.endpoint_url, config=config)


def region_of(client: Any) -> str | None:
    return getattr(getattr(client, "meta", None), "region_name", None)


@dataclass
class Called:
    """A call's result with the attempts it took and what was retried."""

    value: Any
    attempts: int
    notes: list[str]


def call(
    request: Callable[[], T], *, max_attempts: int, backoff_s: float, read_timeout_s: float,
    deadline: float | None = None, sleep: Callable[[float], None] = time.sleep,
) -> Called:  # fmt: skip
    """`request()` with retries; raises AwsAuthError or AwsRequestError (the last error) when it cannot succeed."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    notes: list[str] = []
    error, delay = "no attempt made", backoff_s
    for attempt in range(1, max_attempts + 1):
        if attempt > 1:
            if deadline is not None and time.monotonic() + delay >= deadline:
                raise AwsRequestError(
                    f"gave up after {attempt - 1} attempts (question time budget spent); last: {error}", attempt - 1
                )
            sleep(delay)
            delay *= 2
        try:
            return Called(request(), attempt, notes)
        except NoCredentialsError:
            raise AwsAuthError(NO_CREDENTIALS) from None
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            message = str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
            error = f"{code or 'HTTP ' + str(status)}: {message}"[:300]
            if code in AUTH_CODES or status in (401, 403):
                raise AwsAuthError(f"Bedrock refused the credentials ({error})") from None
            if not (code in RETRY_CODES or status == 429 or status >= 500):
                raise AwsRequestError(error, attempt) from None
        except ReadTimeoutError:
            error = f"no reply within {read_timeout_s:.3g} s (generation.request_timeout_s)"
        except (ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        if attempt < max_attempts:
            notes.append(f"attempt {attempt}: {error}; retried")
    plural = "" if max_attempts == 1 else "s"
    raise AwsRequestError(f"gave up after {max_attempts} attempt{plural}; last: {error}", max_attempts)
