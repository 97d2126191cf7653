"""The pipeline: stored inbound messages become ticket changes, one small step at a time."""
