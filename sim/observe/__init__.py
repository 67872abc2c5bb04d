"""Observers of a run: the premature-deletion oracle, the collectors, the lock-space meter."""
