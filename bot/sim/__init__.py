"""Simulated students and classes: the demo, the `sim:` meeting, the live demo and its network namespace."""
