"""The `mimic` command line: thin drivers over the library (see docs/ARCHITECTURE.md)."""
