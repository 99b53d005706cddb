"""Which engine runs a batch row, with which options, and loading it: a GGUF found by name, a server checked
before the first prompt, a refused key failing the row once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from logging import Logger
from pathlib import Path
from typing import Any

from wattbench.backends.base import AuthError, Backend, preflight
from wattbench.backends.registry import backend_class, create_backend, resolve_backend
from wattbench.config import BatchConfig
from wattbench.data.models_csv import ModelSpec
from wattbench.errors import WattbenchError
from wattbench.reasoning import ReasoningMode
from wattbench.runs.lifecycle import Lifecycle
from wattbench.urls import parse_url


class RunFailed(Exception):
    """A run that cannot start (model not loadable, server unreachable); the batch records it and goes on."""


def check_endpoint(base_url: str, model: str, timeout_s: float = 5.0) -> None:
    """Fail the run at once when the server is down or serves another model (not after every prompt's retries).
    Credentials in the URL go as basic auth; messages show the URL redacted."""
    endpoint = parse_url(base_url)
    base_url = endpoint.shown
    request = urllib.request.Request(endpoint.join("models"), headers=endpoint.basic_auth())
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 — user's URL
            body = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        if exc.code < 500 or exc.code == 501:
            return  # up, but without a model list (or hiding it): the prompts will tell
        raise RunFailed(f"endpoint {base_url} answered HTTP {exc.code}; check the server") from None
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RunFailed(f"endpoint {base_url} unreachable ({reason}); start the server or fix --endpoint") from None
    try:
        served = [m.get("id") for m in json.loads(body).get("data", [])]
    except (json.JSONDecodeError, AttributeError):
        return
    if served and model not in served:
        raise RunFailed(
            f"endpoint {base_url} serves {', '.join(map(str, served))}, not {model}; "
            "select the served model with --model-name or point --endpoint at its server"
        )


def find_gguf(gguf_dir: Path, model_id: str) -> Path | None:
    """The .gguf in `gguf_dir` whose file name contains the model's name (case-insensitive), shortest first."""
    name = model_id.split("/")[-1].lower()
    matches = sorted((p for p in Path(gguf_dir).glob("*.gguf") if name in p.name.lower()), key=lambda p: len(p.name))
    return matches[0] if matches else None


def engine_name(config: BatchConfig) -> str:
    """The registry name a batch's rows run on: `vllm` with an `--endpoint` means a running server, reached as
    any OpenAI-compatible one."""
    try:
        name = resolve_backend(config.backend)
    except WattbenchError as exc:
        raise WattbenchError(f"--backend: {exc}") from None
    return "openai" if name == "vllm" and config.endpoint else name


def backend_plan(spec: ModelSpec, config: BatchConfig) -> tuple[str, dict[str, Any]]:
    """(registry name, options) that run this model with this config. The engine maps the batch settings to its
    options (`batch_options`); what is batch-specific stays here: a GGUF found by name."""
    name = engine_name(config)
    model = spec.model_id
    if name == "llamacpp" and config.gguf_dir:
        found = find_gguf(Path(config.gguf_dir), model)
        if found is None:
            raise RunFailed(f"no .gguf for {model} in {config.gguf_dir} (matched by name '{model.split('/')[-1]}')")
        model = str(found)
    return name, backend_class(name).batch_options(model, config)  # type: ignore[attr-defined]


def load_backend(spec: ModelSpec, config: BatchConfig, log: Logger, life: Lifecycle) -> tuple[Backend, str]:
    """(the backend, loaded in the row's lifecycle; its registry name); RunFailed when it cannot run this row."""
    name, options = backend_plan(spec, config)
    if config.endpoint and name == "openai":
        check_endpoint(options["base_url"], spec.model_id)
    try:
        backend = life.load(lambda: create_backend(name, **options))
    except WattbenchError as exc:
        hint = (
            " (pass --gguf-dir with its .gguf, or run it with --backend hf or vllm)"
            if name == "llamacpp" and not config.gguf_dir
            else ""
        )
        raise RunFailed(f"model could not be loaded: {exc}{hint}") from None
    log.info(f"Model loaded in {life.load_s or 0.0:.2f} s: {backend.info()}")
    try:
        for note in preflight(backend):  # a refused key fails the row once, not once per prompt
            log.info(note)
    except AuthError as exc:
        raise RunFailed(str(exc)) from None  # the lifecycle closes the engine
    return backend, name


def harmony_usable() -> bool:
    from wattbench.harmony import harmony_status

    return harmony_status()[0]


def harmony_line(mode: ReasoningMode) -> str:
    if not mode.harmony:
        return "Harmony: off"
    from wattbench.harmony import harmony_status

    usable, why = harmony_status()
    how = "openai-harmony renderer" if usable else f"the model's chat template with reasoning_effort ({why})"
    return f"Harmony: on, effort {mode.effort}, rendered by {how}; servers get reasoning_effort in the request"
