"""Presentation: formatting, plots, report.html and terminal tables, all reading results."""
