"""Transformation: SQLMesh plans and runs the models in `models/` on the DuckDB warehouse."""
