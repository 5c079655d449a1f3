"""Settings are chosen by DJANGO_ENV: dev (default), test or production."""

import os

_env = os.environ.get("DJANGO_ENV", "dev").strip().lower()

if _env == "production":
    from .production import *  # noqa: F403
elif _env == "test":
    from .test import *  # noqa: F403
elif _env == "dev":
    from .dev import *  # noqa: F403
else:
    raise RuntimeError(f"Unknown DJANGO_ENV {_env!r}: use dev, test or production.")
