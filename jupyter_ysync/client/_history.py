"""Versions and authorship of a room, over the server's REST API (``ysync/rooms/{room}/...``).

Blocking calls with urllib, as :mod:`._files` makes: the Python peer's document methods
(``doc.save_version()``, ``doc.versions()``...) wrap them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from ..errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ReadOnlyError,
    RoomNotFound,
    VersionNotFound,
)
from ._files import _message, http_base

CONTENT_FORMATS = ("text", "delta", "html", "markdown")


def _call(
    room_url: str,
    headers: dict[str, str],
    path: str,
    *,
    body: Any = None,
    timeout: float = 10.0,
) -> Any:
    """``GET`` (or ``POST`` a JSON ``body`` to) ``room_url + path``; return the JSON answer.

    Raises:
        RoomNotFound, VersionNotFound: 404.
        AuthenticationFailed: 401, or 403 on a read.
        ReadOnlyError: 403 on a write.
        ValueError: 400 (a bad version id, name or format).
        ConnectionFailed: the server could not be reached.
    """
    url = http_base(room_url) + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="GET" if data is None else "POST", headers=dict(headers)
    )
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            message = _message(error.read()) or str(error.reason)
        if error.code == 404:
            if "version" in str(error.reason).lower():
                raise VersionNotFound(message) from None
            raise RoomNotFound(message) from None
        if error.code == 403 and data is not None:
            raise ReadOnlyError(message) from None
        if error.code in (401, 403):
            raise AuthenticationFailed(f"{url}: {message}") from None
        if error.code == 400:
            raise ValueError(message) from None
        raise ConnectionFailed(f"{url}: {error.code} {message}") from None
    except (urllib.error.URLError, OSError) as error:
        raise ConnectionFailed(f"Could not reach {url}: {error}") from None


def save_version(room_url: str, headers: dict[str, str], name: str) -> dict[str, Any]:
    """Keep the room's current content as a version named ``name``; return it."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name={name!r}: give the version a name, e.g. 'sent to review'")
    return dict(_call(room_url, headers, "/versions", body={"name": name}))


def versions(room_url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The room's versions, newest first."""
    return list(_call(room_url, headers, "/versions"))


def version_content(
    room_url: str, headers: dict[str, str], version: int, format: str = "delta"
) -> Any:
    """The room's content at ``version``, as ``format`` (text, delta, html or markdown)."""
    if format not in CONTENT_FORMATS:
        raise ValueError(f"format={format!r}: use one of {', '.join(CONTENT_FORMATS)}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"version={version!r}: use an id from doc.versions()")
    answer = _call(room_url, headers, f"/versions/{version}/content?format={quote(format)}")
    return answer[format]


def authors(room_url: str, headers: dict[str, str]) -> dict[int, dict[str, Any]]:
    """The room's authorship map: Yjs client id -> identity, as the server recorded it."""
    answer = _call(room_url, headers, "/authors?ranges=false")
    return {int(client): dict(who) for client, who in answer["clients"].items()}
