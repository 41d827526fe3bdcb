"""The latency benchmark: interleaved rounds of every scenario on every variant."""
