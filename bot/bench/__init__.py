"""Benchmarks of the live bot: `classpulse bench` (load generator, clip cache, measurements)."""
