"""PINs as argon2id hashes (argon2-cffi): the PIN itself is never stored, logged or kept.

The hash carries its own parameters and salt (``$argon2id$v=19$m=65536,t=3,p=4$…``), so a
stored hash is checked with whatever parameters made it. New hashes use
:data:`DEFAULT_PARAMETERS`, RFC 9106's low-memory profile (64 MiB, 3 passes, 4 lanes: about a
tenth of a second), also argon2-cffi's default. A PIN that checks out against a hash made with
other parameters is hashed again with the current ones (:func:`needs_rehash`).

Tests make hashing cheap with :func:`use_parameters` (argon2-cffi's ``CHEAPEST`` profile); the
product never calls it.
"""

from __future__ import annotations

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["DEFAULT_PARAMETERS", "hash_pin", "needs_rehash", "pin_matches", "use_parameters"]

#: RFC 9106's second recommended option (argon2id, 64 MiB, t=3, p=4).
DEFAULT_PARAMETERS: Parameters = profiles.RFC_9106_LOW_MEMORY

_parameters = DEFAULT_PARAMETERS
_hasher = PasswordHasher.from_parameters(_parameters)


def use_parameters(parameters: Parameters) -> Parameters:
    """Hash new PINs with ``parameters`` from now on (tests); returns the ones used before."""
    global _hasher, _parameters
    before, _parameters = _parameters, parameters
    _hasher = PasswordHasher.from_parameters(parameters)
    return before


def hash_pin(pin: str) -> str:
    """A new salted argon2id hash of ``pin``."""
    return _hasher.hash(pin)


def pin_matches(stored_hash: str, pin: str) -> bool:
    """Whether ``pin`` is the PIN ``stored_hash`` was made from (a damaged hash matches nothing)."""
    try:
        return _hasher.verify(stored_hash, pin)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether ``stored_hash`` was made with other parameters than new hashes get."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
