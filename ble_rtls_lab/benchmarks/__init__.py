"""Long benchmarks, run by scripts/bench rather than the test suite."""
