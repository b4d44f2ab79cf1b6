"""Finding the room server: explicit arguments, the environment, or a running Jupyter server."""

from __future__ import annotations

import contextlib
import os
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..errors import ServerNotFound
from ..protocol import TOKEN_ENV, URL_ENV

FRONTEND_PATHS = ("lab", "tree", "notebooks", "doc", "edit", "view", "terminals", "voila")
"""First path segments of Jupyter's pages: a pasted page URL is cut back to the server's base
URL before them (``http://host:8888/jupyter/lab/tree/x.ipynb`` -> ``.../jupyter/``)."""


def resolve_server(url: str | None, token: str | None) -> tuple[str, str | None]:
    """Find the room server: explicit arguments, then the environment, then running servers.

    ``url`` may be what a browser shows, e.g. ``http://127.0.0.1:8888/lab?token=abc``: the
    page is cut off and the token taken from the query unless ``token`` is given.

    Returns:
        The websocket base URL (ending with ``/``) and the token, if any.

    Raises:
        ServerNotFound: saying which arguments or environment variables to set.
    """
    if url is None:
        url = os.environ.get(URL_ENV) or None
        if token is None:
            token = os.environ.get(TOKEN_ENV) or None
    if url is None:
        url, found_token = _running_server()
        token = token if token is not None else found_token
    parts = urlsplit(url)
    if token is None:
        token = parse_qs(parts.query).get("token", [None])[0] or os.environ.get(TOKEN_ENV) or None
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise ServerNotFound(
            f"url={url!r} is not a server address: pass the Jupyter server's URL,"
            " for example connect('notes', url='http://127.0.0.1:8888/')."
        )
    return urlunsplit((scheme, parts.netloc, _base_path(parts.path), "", "")), token


def _base_path(path: str) -> str:
    """The server's base URL path from a page's path."""
    segments = [segment for segment in path.split("/") if segment]
    for index, segment in enumerate(segments):
        if segment in FRONTEND_PATHS:
            segments = segments[:index]
            break
    return "/" + "".join(f"{segment}/" for segment in segments)


def _running_server() -> tuple[str, str | None]:
    with contextlib.suppress(Exception):
        from jupyter_server.serverapp import list_running_servers

        for info in list_running_servers():
            return str(info["url"]), info.get("token") or None
    raise ServerNotFound(
        "No Jupyter server to join: pass connect(room, url='http://127.0.0.1:8888/', token='...'),"
        f" or set {URL_ENV} and {TOKEN_ENV}. Kernels started by a Jupyter server with"
        " jupyter_ysync enabled have both set already."
    )
