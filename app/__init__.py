"""Facet Studio desktop editor (PySide6): a thin client that drives engine.session through a worker thread."""
