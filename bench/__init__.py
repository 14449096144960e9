"""opskit benchmarks: opskit beside the anchor packages, measured in one run."""
