"""Workers for the benchmarks: a no-op and a CPU-bound pure-Python one."""
