"""Reading mail: pure functions from bytes to values (no database, no I/O)."""
