"""The run directory (the source of truth) and, later, the SQLite index over run dirs."""
