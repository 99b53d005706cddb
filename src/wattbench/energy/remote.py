"""GPU energy from a meter agent on another host (`wattbench meter serve`, energy/agent.py): the meter's Source
for a run against a server there (`--meter-url URL`).

Each window edge (and each sampler tick) asks the agent for its counters and power; the agent reads them when the
request arrives, by its own clock, so the window's energy is the difference of two readings taken on the GPU
host, judged by the rules a local GPU's windows are (energy/gpu_counter.py: resets, wraps, short windows). The
GPUs measured are the ones the agent serves (the user chose them with `meter serve --gpus`). An agent that
cannot be reached, that refuses the token, or that fails at a window's edge leaves the GPU energy of that window
unavailable with the reason; the run goes on. The token comes from a file or $WATTBENCH_METER_TOKEN and is sent
only as a header.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from wattbench.energy.base import SourceUnavailable, Verdict
from wattbench.energy.gpu_counter import AGENT, GpuTrack, judge
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
    """The agent's GPUs as scopes `gpu:<index>` (the agent host's NVML indices). Each reading advances the same
    per-GPU track a local NVML GPU has (energy/gpu_counter.py): the counter with its reset and wrap handling, and
    the agent's power readings integrated over the agent's own reading times, so a window shorter than the
    counter's step is estimated from power, and a GPU there without a counter is measured by its power."""

    name = "remote"

    def __init__(self, url: str, token: str | None, first: dict[str, Any]) -> None:
        self.url, self._token = url, token
        self._tracks: dict[str, GpuTrack] = {}
        self._warnings: list[str] = []
        self._error: str | None = None
        self._clock_s: float | None = first.get("agent_clock_s")
        self._powerless: dict[str, str] = {}
        for gpu in first["gpus"]:
            scope = f"gpu:{gpu['index']}"
            if gpu.get("energy_j") is None and gpu.get("power_w") is None:
                self._powerless[scope] = f"the agent's GPU {gpu['index']} reports neither energy nor power"
                continue
            has_counter = gpu.get("energy_j") is not None
            track = GpuTrack(has_counter, str(gpu.get("power_kind") or "instant"))
            self._tracks[scope] = track
        self._advance(first)

    def scopes(self) -> list[str]:
        return list(self._tracks)

    def unavailable(self) -> dict[str, str]:
        return dict(self._powerless)

    def methods(self) -> dict[str, str]:
        return {scope: AGENT.counter if t.has_counter else AGENT.power_only for scope, t in self._tracks.items()}

    def power_kinds(self) -> dict[str, str]:
        return {scope: track.power_kind for scope, track in self._tracks.items()}

    def last_power_w(self) -> dict[str, tuple[float, str]]:
        """The power each GPU read at the agent's last reading (the sampler's timeline)."""
        return {s: (t.last_power[1], t.power_kind) for s, t in self._tracks.items() if t.last_power is not None}

    def _advance(self, reading: dict[str, Any]) -> None:
        self._clock_s = reading.get("agent_clock_s", self._clock_s)
        seen = set()
        for gpu in reading.get("gpus", []):
            scope = f"gpu:{gpu.get('index')}"
            track = self._tracks.get(scope)
            if track is None:
                continue
            seen.add(scope)
            if track.has_counter:
                if gpu.get("energy_j") is None:
                    track.failed("the agent read no energy counter")
                    continue
                warning = track.add_counter(scope, int(round(float(gpu["energy_j"]) * 1000)))
                if warning:
                    self._warnings.append(warning)
            if gpu.get("power_w") is not None and self._clock_s is not None:
                track.add_power(float(self._clock_s), float(gpu["power_w"]))
            track.polls += 1
        for scope in set(self._tracks) - seen:
            self._tracks[scope].failed("the agent's reading left this GPU out")

    def poll(self, now_s: float) -> None:
        try:
            reading = fetch(self.url, self._token)
        except AgentError as exc:
            self._error = str(exc)
            for track in self._tracks.values():
                track.failed(str(exc))
            return
        try:
            self._advance(reading)
        except (KeyError, TypeError, ValueError) as exc:  # a malformed reading: those GPUs' windows are unknown
            for track in self._tracks.values():
                track.failed(f"the meter agent at {self.url} sent a malformed reading ({exc})")

    def cumulative_j(self) -> dict[str, float]:
        return {scope: track.cumulative_j() for scope, track in self._tracks.items()}

    def warnings(self) -> list[str]:
        drained, self._warnings = self._warnings, []
        return drained

    def snapshot(self) -> dict[str, Any]:
        return {scope: track.snapshot() for scope, track in self._tracks.items()}

    def judge(self, before: dict[str, Any], after: dict[str, Any], duration_s: float) -> Verdict:
        """As a local GPU's window (energy/gpu_counter.py): a failed reading at an edge or in between leaves the
        window's GPU energy unknown, since a stale counter at an edge would give it another window's energy."""
        return judge(self._tracks, before, after, duration_s, AGENT)


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
