"""Scoring: the WattBot metric (kaggle and lenient modes) and its per-cell rules."""
