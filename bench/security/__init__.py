"""The security benchmark: attacks as API users against every variant."""
