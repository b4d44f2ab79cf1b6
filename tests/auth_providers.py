"""Identity and authorization for tests: one token per user, and a reader who may not write."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User

USERS = {
    "writer-token": "writer",
    "reader-token": "reader",
    "outsider-token": "outsider",
    "viewer-token": "viewer",
    "nofiles-token": "nofiles",
}


class TokenUsersIdentityProvider(IdentityProvider):
    """Each token in ``USERS`` is a different user; anything else is nobody."""

    def get_user(self, handler: Any) -> User | None:
        token = self.get_token(handler)
        name = USERS.get(token or "")
        if not name:
            return None
        handler._token_authenticated = True  # a header credential: no XSRF check, as Jupyter does
        return User(username=name)

    @property
    def auth_enabled(self) -> bool:
        return True


class ReaderAuthorizer(Authorizer):
    """``reader`` may only read ysync rooms; ``outsider`` may not touch them at all; ``viewer``
    may read files but not write them; ``nofiles`` may not read files."""

    def is_authorized(self, handler: Any, user: User, action: str, resource: str) -> bool:
        if resource == "contents" and user.username == "viewer":
            return action == "read"
        if resource == "contents" and user.username == "nofiles":
            return False
        if resource == "ysync" and user.username == "reader":
            return action == "read"
        return not (resource == "ysync" and user.username == "outsider")
