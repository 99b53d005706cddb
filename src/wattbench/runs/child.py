"""One batch run in its own process, for the local and Ray executors: `python -m wattbench.runs.child
JOB.json`, where the job holds the batch config, the models CSV, the run key and the prompts (already loaded,
so a node needs neither the prompt file nor the dataset hub). Exit 0: completed; 1: failed; 130: interrupted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from wattbench.config import BatchConfig
from wattbench.data.models_csv import load_plan
from wattbench.errors import WattbenchError
from wattbench.runs.textgen import run_batch


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    config = BatchConfig(**job["config"])
    specs = load_plan(Path(job["models_csv"]), config.max_new_tokens, config.reasoning_max_new_tokens)
    chosen = [s for s in specs if s.supported and s.run_key == job["run_key"]]
    if not chosen:
        raise WattbenchError(f"{job['models_csv']}: no supported row is run {job['run_key']} any more")
    outcome = run_batch(config, chosen, job["prompts"], force=True, notify=lambda m: print(m, file=sys.stderr))
    if outcome.interrupted:
        return 130
    return 0 if outcome.rows and outcome.rows[0]["status"] == "completed" else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except WattbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
