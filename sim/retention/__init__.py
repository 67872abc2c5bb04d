"""Retention grammars: how a snapshot policy decides which of its PCPIs may go."""
