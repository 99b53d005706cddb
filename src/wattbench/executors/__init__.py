"""Where runs execute: a `Job` (a command, the GPUs it needs, a timeout, files to ship) becomes an `Outcome` with
a typed status, on the `inline`, `local` or `ray` executor (registry.py). Nothing here knows what a job runs."""
