"""Dependency strategies: how a source learns what its downstream still needs (lock protocols)."""
