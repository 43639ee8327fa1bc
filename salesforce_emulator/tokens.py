"""Access tokens, refresh tokens and authorization codes of one org."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from salesforce_emulator.store import Store

CODE_LIFETIME = 900.0


@dataclass
class AccessToken:
    user_id: str
    expires_at: float
    refresh_token: str | None = None


@dataclass
class RefreshToken:
    user_id: str
    client_id: str
    scope: str


@dataclass
class AuthCode:
    user_id: str
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    scope: str
    expires_at: float


class TokenStore:
    """Tokens of one org; access and refresh tokens persist with the org's store."""

    def __init__(
        self, org_id: str, store: Store, clock: Callable[[], float] = time.time
    ) -> None:
        self.prefix = org_id[:15] + "!"
        self.store = store
        # Expiry follows the org's clock: moving it past a token's lifetime expires it.
        self._time = clock
        self._lock = threading.Lock()
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthCode] = {}
        for token, kind, data in store.tokens():
            if kind == "access":
                self.access[token] = AccessToken(**data)
            elif kind == "refresh":
                self.refresh[token] = RefreshToken(**data)

    def issue_access(
        self, user_id: str, lifetime: float, refresh_token: str | None = None
    ) -> str:
        token = self.prefix + secrets.token_urlsafe(72)
        info = AccessToken(user_id, self._time() + lifetime, refresh_token)
        with self._lock:
            self._prune()
            self.access[token] = info
        self.store.save_token(token, "access", asdict(info))
        return token

    def issue_refresh(self, user_id: str, client_id: str, scope: str) -> str:
        token = "5Aep" + secrets.token_urlsafe(60)
        info = RefreshToken(user_id, client_id, scope)
        with self._lock:
            self.refresh[token] = info
        self.store.save_token(token, "refresh", asdict(info))
        return token

    def issue_code(self, code: AuthCode) -> str:
        value = "aPrx" + secrets.token_urlsafe(48)
        with self._lock:
            self.codes[value] = code
        return value

    def take_code(self, value: str) -> AuthCode | None:
        """Remove and return a code (single use) unless unknown or expired."""
        with self._lock:
            code = self.codes.pop(value, None)
        if code is None or code.expires_at < self._time():
            return None
        return code

    def user_for(self, token: str) -> str | None:
        """The user id of a valid access token, else None."""
        info = self.access.get(token)
        if info is None or info.expires_at <= self._time():
            return None
        return info.user_id

    def revoke(self, token: str) -> bool:
        with self._lock:
            access = self.access.pop(token, None)
            refresh = self.refresh.pop(token, None)
            linked = [
                t
                for t, i in self.access.items()
                if refresh and i.refresh_token == token
            ]
            for linked_token in linked:
                del self.access[linked_token]
        for removed in [token, *linked]:
            self.store.save_token(removed, "", None)
        return access is not None or refresh is not None

    def expire_all(self) -> None:
        """Every access token issued so far stops working (refresh tokens stay valid)."""
        with self._lock:
            self.access.clear()
        self.store.delete_tokens("access")

    def _prune(self) -> None:
        now = self._time()
        if len(self.access) < 1000:
            return
        for token in [t for t, i in self.access.items() if i.expires_at <= now]:
            del self.access[token]
            self.store.save_token(token, "", None)
