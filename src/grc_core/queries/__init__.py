"""Read queries: pure functions that return ``select()`` statements."""
