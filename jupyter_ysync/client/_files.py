"""Mapping a file's path to its room, over the server's REST API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from ..errors import AuthenticationFailed, ConnectionFailed, FileRefused


def http_base(base: str) -> str:
    """The HTTP form of a websocket base URL (``ws://h/`` -> ``http://h/``)."""
    return "http" + base[2:] if base.startswith("ws") else base


def open_file(base: str, token: str | None, path: str, timeout: float = 10.0) -> dict[str, Any]:
    """Open the room of a ``.md``/``.html`` file and describe it (``GET ysync/files/{path}``).

    Returns:
        The server's description: ``room``, ``path``, ``file_id``, ``format``, ``writable``...

    Raises:
        FileRefused: no such file, not a supported text file, too large, or not allowed.
        AuthenticationFailed: the server refused the credential.
        ConnectionFailed: the server could not be reached.
    """
    url = http_base(base) + "ysync/files/" + quote(path.strip("/"))
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout or None) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as error:
        with error:
            message = _message(error.read()) or error.reason
        if error.code == 401:
            raise AuthenticationFailed(
                f"The server refused the credential for {path!r}: {message}"
            ) from None
        raise FileRefused(f"{path}: {message}", error.code) from None
    except (urllib.error.URLError, OSError) as error:
        raise ConnectionFailed(f"Could not reach {http_base(base)}: {error}") from None


def _message(body: bytes) -> str:
    try:
        value = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")[:500]
    return str(value.get("message") or value.get("reason") or "") if isinstance(value, dict) else ""
