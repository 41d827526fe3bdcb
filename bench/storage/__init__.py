"""The storage benchmark: bytes per relation and variant."""
