"""Expectations, the scenario library (check, catalog) and provenance."""
