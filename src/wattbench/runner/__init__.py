"""Runners: one experiment (resumable), and later batches, sweeps and executors."""
