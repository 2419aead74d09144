"""A toy embedding function for trying semantic search without a provider (and for the tests
and benchmarks): each word of a text, lowercased, adds 1 to one of ``DIMS`` buckets chosen by
its hash, then the vector is scaled to length 1. Texts that share words point the same way;
it knows nothing of meaning, so use a real model in production. Deterministic across
processes (blake2b, not Python's salted ``hash``).

``langgraph.json``: ``{"store": {"index": {"dims": 256, "embed": "./examples/embeddings.py:embed"}}}``
"""

from __future__ import annotations

import hashlib
import math
import re

DIMS = 256


def embed(texts: list[str]) -> list[list[float]]:
    return [_vector(text) for text in texts]


def _vector(text: str) -> list[float]:
    vector = [0.0] * DIMS
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "big") % DIMS] += 1.0
    norm = math.sqrt(sum(number * number for number in vector))
    return [number / norm for number in vector] if norm else vector
