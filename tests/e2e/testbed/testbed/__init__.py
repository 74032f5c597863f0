"""A worker and combiner with injectable faults, for the end-to-end tests."""
