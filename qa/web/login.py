"""The `--auth user:pass` login, with repeated failures locked out: 100 wrong passwords took under a second
before; now the 6th failure in a row locks logins for 1 s, and each further failure doubles that, up to 5 minutes
(so guessing gets about 10 tries in the first minute, then one every 5 minutes)."""

from __future__ import annotations

import logging
import secrets
import threading
import time

log = logging.getLogger("qa")

FREE_FAILURES = 5  # typos a person makes before anything slows down
FIRST_LOCK_S = 1.0
MAX_LOCK_S = 300.0


class Login:
    """Gradio's auth callable: checks user and password in constant time and counts failures.

    A lockout is global, not per user name: Gradio does not tell this callable who is asking, and tries spread
    over made-up user names must not escape it. While locked, every login is refused without checking it, so the
    right password typed during a lockout is refused too (the log says why); a success resets the count.
    """

    def __init__(self, user: str, password: str, *, clock=time.monotonic):  # noqa: ANN001
        if not user or not password:
            raise ValueError("a login needs a user and a password")
        self._user, self._password = user.encode(), password.encode()
        self._clock = clock
        self._lock = threading.Lock()
        self.failures = 0
        self.locked_until = 0.0

    def __call__(self, user: str, password: str) -> bool:
        with self._lock:
            now = self._clock()
            if now < self.locked_until:
                log.warning("login refused: locked for %.0f s more after %d failed logins", self.locked_until - now,
                            self.failures)  # fmt: skip
                return False
            ok = secrets.compare_digest(str(user).encode(), self._user)
            ok = secrets.compare_digest(str(password).encode(), self._password) and ok
            if ok:
                self.failures = 0
                return True
            self.failures += 1
            if self.failures > FREE_FAILURES:
                lock = min(FIRST_LOCK_S * 2 ** (self.failures - FREE_FAILURES - 1), MAX_LOCK_S)
                self.locked_until = now + lock
                log.warning("%d failed logins in a row: logins refused for %.0f s", self.failures, lock)
            return False


MESSAGE = (
    f"After {FREE_FAILURES} failed logins in a row, logins are refused for a while "
    f"(1 s, doubling with each further failure, at most {MAX_LOCK_S / 60:.0f} minutes)."
)
