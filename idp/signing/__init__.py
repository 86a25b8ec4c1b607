"""Signing keys (see ring.py)."""

from .ring import ALGORITHMS, KeyRing

__all__ = ["ALGORITHMS", "KeyRing"]
