"""Data loaders: the WattBot questions, metadata and corpus, and data-dir discovery."""
