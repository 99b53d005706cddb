"""One unit of work in one process: a WattBot run, one batch row; the loop that drives a task through a backend
under a meter and writes the store."""
