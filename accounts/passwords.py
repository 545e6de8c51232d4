"""Password hashing with argon2id (argon2-cffi) and the minimum password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from accounts.errors import WeakPassword

MIN_LENGTH = 10
MAX_LENGTH = 1024  # hashing megabytes on every login attempt would be a cheap denial of service

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified when the user does not exist, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("not-a-password-of-anyone")


def check_policy(password: str, username: str | None = None) -> None:
    """Raise :class:`WeakPassword` unless the password meets the minimum policy."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(
            f"密码至少 {MIN_LENGTH} 个字符 A password needs at least {MIN_LENGTH} characters "
            f"(this one has {len(password)})."
        )
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"密码最多 {MAX_LENGTH} 个字符 At most {MAX_LENGTH} characters.")
    if username and password.strip().lower() == username.strip().lower():
        raise WeakPassword("密码不能与用户名相同 The password must not be the user name.")


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string with salt and parameters) to store."""
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; False for a malformed hash too."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def burn_verify(password: str) -> None:
    """Spend the time of one verification (for unknown users: no timing oracle)."""
    verify_password(_DUMMY_HASH, password)


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with older parameters and should be replaced at login."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
