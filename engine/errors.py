"""Errors the engine raises on purpose: each says what was wrong and where, so the CLI and the app can show it."""

from __future__ import annotations


class FacetError(Exception):
    """Base class: an expected failure with a message meant for the user."""


class ImageLoadError(FacetError):
    """An image file could not be read (missing, corrupt, truncated, too large, not an image)."""


class BundleError(FacetError):
    """A model bundle is missing, incomplete, of an unknown format or does not match its manifest."""


class DatasetError(FacetError):
    """A dataset folder or label file is malformed."""


class Cancelled(FacetError):
    """A long operation was cancelled by its caller; nothing was changed."""


class NumericalError(FacetError):
    """An optimisation produced NaN/Inf: the settings (learning rate, weights) are unusable."""


class NoFaceError(FacetError):
    """No face was found in a photo."""
