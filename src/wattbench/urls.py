"""URLs that may carry credentials: parsed once, sent as the protocol intends, shown redacted.

A user may write a server's credentials into its URL (`http://user:pw@host:8000/v1`, or a token in the query
string, `...?api_key=...`). `urllib` does not understand user-info: it takes `user:pw@host` as the host name and
asks the resolver for it, which sends the password to a DNS server. So every URL option is parsed here once: the
user-info is taken out of the URL and sent as an HTTP basic `Authorization` header, a query token stays in the
URL that is requested (the server wants it there), and what is shown, logged or stored is `redact(url)`:
`http://***@host:8000/v1?api_key=***`. `redact_text` does the same for any text that may hold a URL (a log line,
an error message, a config snapshot), so a credential that reached a message by another path is still caught.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

SECRET_QUERY = re.compile(r"token|key|secret|pass|pwd|auth|sig|credential|session", re.IGNORECASE)
"""Query parameter names whose values are credentials (api_key, access_token, X-Amz-Signature, ...)."""

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@?#'\"]+)@")
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&;][^=&#\s'\"]*?(?:token|key|secret|pass|pwd|auth|sig|credential|session)[^=&#\s'\"]*=)"
    r"(?P<value>[^&#\s'\"]+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Endpoint:
    """A URL split into what is requested and what is shown."""

    url: str
    """The URL to request: no user-info (a query token kept: the server reads it there)."""
    shown: str
    """The URL as printed, logged and stored: credentials replaced by `***`."""
    username: str | None = None
    password: str | None = None

    def join(self, route: str) -> str:
        """The URL of `route` below this one (`.../v1` + `models`), the query string kept at the end, where a
        server that takes its token there reads it."""
        parts = urlsplit(self.url)
        path = parts.path.rstrip("/") + "/" + route.lstrip("/")
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))

    @property
    def has_credentials(self) -> bool:
        return self.username is not None

    def basic_auth(self) -> dict[str, str]:
        """The Authorization header the user-info stands for (none without user-info)."""
        if self.username is None:
            return {}
        pair = f"{self.username}:{self.password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    def __str__(self) -> str:  # an Endpoint put into a message by mistake shows the redacted form
        return self.shown


def parse_url(raw: str) -> Endpoint:
    """Split `raw` into the URL to request and the redacted one; user-info becomes basic-auth credentials."""
    text = raw.strip()
    parts = urlsplit(text)
    if "@" not in parts.netloc:
        return Endpoint(text, redact(text))
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return Endpoint(clean, redact(text), unquote(user), unquote(password) if sep else None)


def redact(url: str) -> str:
    """`url` with its user-info and query-string credentials replaced by `***`."""
    return redact_text(url)


def redact_text(text: str) -> str:
    """Every URL credential in `text` replaced by `***` (user-info, and values of query parameters named like a
    token, key, password or signature); anything else is left as written."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('name')}***", text)


def redact_values(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted; for config snapshots and records."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_values(v) for v in value]
    return value


def host_of(url: str) -> str:
    """The host name of `url`, never its user-info (`urlsplit(...).hostname` does this; said here once)."""
    return urlsplit(url.strip()).hostname or ""


class RedactingFilter:
    """A logging filter that redacts URL credentials in every message of the logger it is attached to (run.log,
    a batch row's log): a message built from a URL by any path is still safe to write."""

    def filter(self, record: Any) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


SECRETS_ENV = "WATTBENCH_URL_SECRETS"
"""Where a campaign keeps the real URLs of the job files it writes: in its children's environment, never on disk."""
_MARK = "#wattbench-secret-"


def stash_secrets(value: Any) -> Any:
    """`value` (a config about to be written as a job file) with each URL that holds a credential replaced by its
    redacted form plus a unique mark; the real URL goes into this process's environment (SECRETS_ENV), which the
    job's subprocess inherits and `restore_secrets` reads back. Nothing secret reaches the file."""
    import json
    import os

    table: dict[str, str] = json.loads(os.environ.get(SECRETS_ENV) or "{}")
    known = {real: mark for mark, real in table.items()}

    def stash(item: Any) -> Any:
        if isinstance(item, str):
            shown = redact_text(item)
            if shown == item:
                return item
            mark = known.get(item) or f"{shown}{_MARK}{len(table)}"
            table[mark], known[item] = item, mark
            return mark
        if isinstance(item, dict):
            return {k: stash(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [stash(v) for v in item]
        return item

    stashed = stash(value)
    if table:
        os.environ[SECRETS_ENV] = json.dumps(table)
    return stashed


def restore_secrets(value: Any) -> Any:
    """The real URLs back in a job file's settings (see stash_secrets); a mark with no secret in the environment
    is left as it is, and the URL then fails with its redacted form in the message."""
    import json
    import os

    raw = os.environ.get(SECRETS_ENV)
    if not raw:
        return value
    table: dict[str, str] = json.loads(raw)

    def restore(item: Any) -> Any:
        if isinstance(item, str):
            return table.get(item, item)
        if isinstance(item, dict):
            return {k: restore(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [restore(v) for v in item]
        return item

    return restore(value)
