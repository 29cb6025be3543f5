"""Networks only (no training, no I/O). Importing this package registers every network class."""

from engine.models import cgan  # noqa: F401
from engine.models import mtcnn  # noqa: F401
from engine.models import elegant  # noqa: F401
