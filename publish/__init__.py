"""Publishing: gold marts copied out of the warehouse to the curated layer, switched atomically."""
