"""Ingestion: dlt pipelines that load each declared source into the lake's raw layer."""
