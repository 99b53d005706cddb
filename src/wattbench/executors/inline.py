"""The inline executor: one job after another on this machine, each in its own session."""

from __future__ import annotations

from wattbench.executors.job import Job, Notify, Outcome, Say
from wattbench.executors.process import Watched, start_process
from wattbench.executors.registry import ExecutorChoice


class InlineExecutor:
    def __init__(self, choice: ExecutorChoice, say: Say) -> None:
        say("inline: one run after another")

    def run(self, jobs: list[Job], notify: Notify) -> list[Outcome]:
        """Every job in order; after an interrupted one, none of the rest starts."""
        outcomes = []
        for job in jobs:
            watched = Watched(start_process(job.command, job.log_path), job.timeout_s, job.log_path)
            status, reason = watched.wait()
            outcome = Outcome(job.label, job.key, status, reason, watched.duration_s, watched.process.pid,
                              str(job.log_path), "", watched.started_at)  # fmt: skip
            outcomes.append(outcome)
            notify(outcome)
            if status == "interrupted":
                break
        return outcomes
