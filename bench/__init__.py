"""Benchmarks: every stage of the platform against hand-written DuckDB, side by side (`just bench`)."""
