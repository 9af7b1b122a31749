"""`make bench`: throughput and latency, each next to a baseline measured in the same run."""
