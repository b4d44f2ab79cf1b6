"""Who is who in the browser tests: one login token per person, and a reader who may not write.

The JupyterLab server of the browser tests runs with these classes, so that each
browser context is a named person (carets and people lists are predictable, and
screenshots show real names) and one of them may only read rooms.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User

PEOPLE = {
    "ada": User(
        username="ada", name="Ada", display_name="Ada Lovelace", initials="AL", color="#e67e22"
    ),
    "grace": User(
        username="grace", name="Grace", display_name="Grace Hopper", initials="GH", color="#2980b9"
    ),
    "reader": User(
        username="reader", name="Rita", display_name="Rita Reader", initials="RR", color="#7f8c8d"
    ),
}


def login_token(person: str) -> str:
    """The token that logs a browser in as ``person`` (a key of ``PEOPLE``)."""
    return f"{person}-login-token"


class PeopleIdentityProvider(IdentityProvider):
    """A person's login token logs in as that person; a cookie then remembers them.

    The server's own token keeps working as usual (the page sends it with every
    API call, and the login cookie tells who is calling).
    """

    def get_user_token(self, handler: Any) -> Any:
        token = self.get_token(handler)
        for person, user in PEOPLE.items():
            if token == login_token(person):
                return user
        return super().get_user_token(handler)


class ReaderAuthorizer(Authorizer):
    """``reader`` may only read ysync rooms; everyone may do everything else."""

    def is_authorized(self, handler: Any, user: User, action: str, resource: str) -> bool:
        if resource == "ysync" and user.username == "reader":
            return action == "read"
        return True
