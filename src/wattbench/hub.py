"""Where a Hugging Face model is on this machine, without ever waiting on an unreachable hub."""

from __future__ import annotations

import os
from pathlib import Path

from wattbench.errors import WattbenchError


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def local_model_dir(model_id: str) -> str:
    """A local directory for `model_id` (a path, or the HF cache); else the id itself, for a download.

    With HF_HUB_OFFLINE set, an id missing from the cache is a one-line error at once, instead of minutes of
    network retries.
    """
    if Path(model_id).expanduser().is_dir():
        return str(Path(model_id).expanduser())
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id=model_id, local_files_only=True)
    except Exception:  # not cached, or not a valid repo id: decided below
        pass
    if hub_offline():
        raise WattbenchError(
            f"model '{model_id}' is not in the local cache and HF_HUB_OFFLINE is set; pass a local path, "
            "or download it first (huggingface-cli download)"
        )
    return model_id
