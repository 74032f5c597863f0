"""Benchmarks of burst-compute (`make bench`); results go to bench/results/."""
