"""Networks only (no training, no I/O). Importing this package registers every network class."""

from engine.models import cgan, elegant, elegant_mask, mtcnn  # noqa: F401
