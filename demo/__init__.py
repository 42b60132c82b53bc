"""The demo shop: a deterministic operational database that stands in for a real source."""
