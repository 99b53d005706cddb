"""Which engine runs a batch row, with which options, and loading it: a GGUF found by name, a server checked
before the first prompt, a refused key failing the row once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from logging import Logger
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


def engine_name(config: BatchConfig) -> str:
    """The registry name a batch's rows run on: with an `endpoint`, the engine that talks to a running server of
    the named one (a vLLM server is reached as any OpenAI-compatible one)."""
    try:
        name = resolve_backend(config.backend)
    except WattbenchError as exc:
        raise WattbenchError(f"--backend: {exc}") from None
    if not config.endpoint:
        return name
    client = backend_class(name).endpoint_client
    if client is None:
        raise WattbenchError(f"--endpoint: the {name} backend runs the model in this process, not on a server; "
                             "drop --endpoint, or pick a server backend (openai, vllm)")  # fmt: skip
    return client


def backend_plan(spec: ModelSpec, config: BatchConfig) -> tuple[str, dict[str, Any]]:
    """(registry name, options) that run this model with this config: the engine maps the batch settings to its
    options (`batch_options`) and finds the model in `gguf_dir` where it loads files (`find_model`)."""
    name = engine_name(config)
    engine = backend_class(name)
    model = spec.model_id
    if config.gguf_dir:
        try:
            model = engine.find_model(model, config.gguf_dir)
        except WattbenchError as exc:
            raise RunFailed(str(exc)) from None
    return name, engine.batch_options(model, config)


def load_backend(spec: ModelSpec, config: BatchConfig, log: Logger, life: Lifecycle) -> tuple[Backend, str]:
    """(the backend, loaded in the row's lifecycle; its registry name); RunFailed when it cannot run this row."""
    name, options = backend_plan(spec, config)
    if config.endpoint and options.get("base_url"):  # a running server: fail the row now if it is down
        check_endpoint(options["base_url"], spec.model_id)
    try:
        backend = life.load(lambda: create_backend(name, **options))
    except WattbenchError as exc:
        raise RunFailed(f"model could not be loaded: {exc}") from None
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
