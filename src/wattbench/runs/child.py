"""One batch run in its own process, for the local and Ray executors: `python -m wattbench.runs.child
JOB.json`, where the job holds the batch config, the row as the parent planned it (its reasoning mode under the
protocol, its token budget) and the prompts already limited: the child reads neither the models CSV, nor the
prompt file, nor the dataset hub, and plans nothing again. Exit 0: completed; 1: failed; 130: interrupted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from wattbench.config import BatchConfig
from wattbench.data.models_csv import ModelSpec
from wattbench.energy.hardware import system_facts
from wattbench.errors import WattbenchError
from wattbench.runs.textgen import StopRequest, batch_meter, graceful_stop, run_one
from wattbench.signals import install, interrupt_exit_code
from wattbench.store.batch_dir import BatchDir
from wattbench.urls import restore_secrets


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    config = BatchConfig(**restore_secrets(job["config"]))
    spec = ModelSpec.from_plan(job["spec"])
    stop, say = StopRequest(), lambda m: print(m, file=sys.stderr)
    with graceful_stop(stop, say):
        row = run_one(spec, job["prompts"], config, BatchDir(Path(config.output_dir)), batch_meter(config),
                      system_facts(), stop, say, dataset=job.get("dataset"), fresh=bool(job.get("fresh")))  # fmt: skip
    if stop.requested:
        return interrupt_exit_code()
    return 0 if row.status == "completed" else 1


if __name__ == "__main__":
    install()  # the executor stops a job's group with SIGTERM: the row is then recorded as interrupted
    try:
        sys.exit(main(sys.argv[1:]))
    except WattbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
