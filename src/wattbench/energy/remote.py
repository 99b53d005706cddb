"""GPU energy from a meter agent on another host (`wattbench meter serve`, energy/agent.py): the meter's Source
for a run against a server there (`--meter-url URL`).

Each window edge asks the agent for its counters; the agent reads them when the request arrives, by its own
clock, so the window's energy is the difference of two readings taken on the GPU host. The GPUs measured are the
ones the agent serves (the user chose them with `meter serve --gpus`). An agent that cannot be reached, that
refuses the token, or that fails at a window's edge leaves the GPU energy of that window unavailable with the
reason; the run goes on. The token comes from a file or $WATTBENCH_METER_TOKEN and is sent only as a header.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from wattbench.energy.base import SourceUnavailable, Verdict
from wattbench.urls import parse_url

TIMEOUT_S = 3.0


class AgentError(Exception):
    pass


def fetch(url: str, token: str | None, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """One reading from the agent at `url` (its /v1 base). User-info in the URL is sent as basic auth when there is
    no token (a proxy's login), never resolved as a host name; messages show the URL redacted."""
    endpoint = parse_url(url)
    url = endpoint.shown
    request = urllib.request.Request(endpoint.join("readings"), headers=endpoint.basic_auth())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise AgentError(f"the meter agent at {url} refused the token (HTTP 401): set $WATTBENCH_METER_TOKEN "
                             "or energy.meter_token_file to the agent's token") from None  # fmt: skip
        raise AgentError(f"the meter agent at {url} answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise AgentError(f"the meter agent at {url} did not answer ({type(exc).__name__}: {exc})") from None


class RemoteSource:
    """The agent's GPUs as scopes `gpu:<index>` (the agent host's NVML indices)."""

    name = "remote"

    def __init__(self, url: str, token: str | None, first: dict[str, Any]) -> None:
        self.url, self._token = url, token
        self._base = {g["index"]: g["energy_j"] for g in first["gpus"]}
        self._last = dict(self._base)
        self._error: str | None = None
        self._failures = 0
        self._last_ok = True
        self._clock_s: float | None = first.get("agent_clock_s")
        self._names = {g["index"]: g.get("name") for g in first["gpus"]}

    def scopes(self) -> list[str]:
        return [f"gpu:{i}" for i, energy in self._base.items() if energy is not None]

    def unavailable(self) -> dict[str, str]:
        return {f"gpu:{i}": f"the agent's GPU {i} has no energy counter" for i, e in self._base.items() if e is None}

    def methods(self) -> dict[str, str]:
        return dict.fromkeys(self.scopes(), "remote_agent_nvml_counter")

    def poll(self, now_s: float) -> None:
        try:
            reading = fetch(self.url, self._token)
        except AgentError as exc:
            self._failures, self._error, self._last_ok = self._failures + 1, str(exc), False
            return
        self._last_ok = True
        self._clock_s = reading.get("agent_clock_s")
        for gpu in reading.get("gpus", []):
            if gpu["index"] in self._last and gpu["energy_j"] is not None:
                self._last[gpu["index"]] = gpu["energy_j"]

    def cumulative_j(self) -> dict[str, float]:
        return {f"gpu:{i}": e - self._base[i] for i, e in self._last.items() if e is not None}

    def warnings(self) -> list[str]:
        return []

    def snapshot(self) -> dict[str, Any]:
        return {"failures": self._failures, "ok": self._last_ok, "error": self._error, "agent_clock_s": self._clock_s}

    def judge(self, before: dict[str, Any], after: dict[str, Any], duration_s: float) -> Verdict:
        """A window with a failed reading at an edge (or in between) has no GPU energy: a stale counter at an edge
        would give it another window's energy."""
        verdict = Verdict()
        if not before["ok"] or not after["ok"] or after["failures"] > before["failures"]:
            verdict.unavailable = dict.fromkeys(self.scopes(), f"remote meter: {after['error']}")
        return verdict


def remote_settings(meter_url: str | None, token_file: str | None) -> dict[str, Any]:
    """make_meter's keywords for a config's energy section: the agent's URL and its token (file, else env)."""
    if not meter_url:
        return {}
    from pathlib import Path

    from wattbench.energy.agent import read_token

    return {"meter_url": meter_url, "meter_token": read_token(Path(token_file) if token_file else None)}


def open_remote(url: str, token: str | None) -> RemoteSource:
    """The agent's source, or SourceUnavailable("gpu", why) when it cannot be read now."""
    try:
        first = fetch(url, token)
    except AgentError as exc:
        raise SourceUnavailable("gpu", str(exc)) from None
    return RemoteSource(url, token, first)
