"""evaluation package (see docs/ARCHITECTURE.md)."""
