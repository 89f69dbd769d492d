"""training package (see docs/ARCHITECTURE.md)."""
