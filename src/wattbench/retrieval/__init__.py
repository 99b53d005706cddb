"""Retrieval over the WattBot corpus: chunking, BM25, dense embeddings, fusion, and a persisted SQLite index."""
