"""Benchmarks of the method: accuracy metrics, the Nezha-layout runner and the synthetic runner."""
