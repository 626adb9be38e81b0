"""Build helpers the Makefile runs (standard library only: they run before any venv exists)."""
