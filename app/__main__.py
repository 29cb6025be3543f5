"""``python -m app``: start Facet Studio."""

import sys

from app.main import main

sys.exit(main())
