"""Comparisons: seeded trial plans, composites, the trial runner, policies and records."""
