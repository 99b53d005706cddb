"""Generation backends: one file per engine, looked up by name in `registry`."""
