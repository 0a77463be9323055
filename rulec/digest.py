"""The one hash rulec uses, blake2b, without ``hashlib``'s start-up.

``import hashlib`` loads OpenSSL's ``_hashlib`` (about 3 ms at every start) for algorithms
rulec never asks for; ``hashlib.blake2b`` is ``_blake2.blake2b`` itself.
"""

try:
    from _blake2 import blake2b
except ImportError:  # an interpreter built without it: hashlib's own choice
    from hashlib import blake2b

__all__ = ["blake2b"]
