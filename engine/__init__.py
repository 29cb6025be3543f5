"""Facet Studio's engine: models, training, inversion, editing, face alignment. Never imports Qt."""

__version__ = "0.1.0"
