"""pgvector values as SQL parameters: shared by the index writes (services/index.py) and the vector search
(retrieval.py), so neither imports the other."""

from __future__ import annotations

import numpy as np


def vector_literal(vector: np.ndarray) -> str:
    """The pgvector text form of ``vector`` (``[0.1,0.2,...]``, seven significant digits), cast with ``::vector``."""
    return "[" + ",".join(f"{value:.7g}" for value in vector.tolist()) + "]"
