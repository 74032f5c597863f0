"""Lambda entry points of burst-compute: thin adapters over burst_core."""
