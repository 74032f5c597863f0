"""Client side of burst-compute: the CLI and the local AWS endpoint."""
