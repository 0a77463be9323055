"""Execution: the local runner (the only place that spawns local processes), locks, records."""
