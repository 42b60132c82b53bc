"""The business metrics: one definition each (definitions.yml), served by the semantic layer (layer.py)."""
