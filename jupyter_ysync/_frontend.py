"""The frontend module's name and version, for the widgets' ``_model_module*``.

Both are read from the labextension's ``package.json``, the file the
TypeScript side reads too (``labextension/src/version.ts``), so Python always
asks for the module the labextension registers.
"""

from __future__ import annotations

import json
from pathlib import Path

from ._version import __version__

_HERE = Path(__file__).parent

#: Where package.json is: the built labextension (wheel or editable install),
#: then the sources of a checkout that was not built yet.
_PACKAGE_JSON = (
    _HERE / "labextension" / "package.json",
    _HERE.parent / "labextension" / "package.json",
)


def _read_module() -> tuple[str, str]:
    for path in _PACKAGE_JSON:
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            return str(data["name"]), str(data["version"])
    # hatch-nodejs-version made the distribution's version from package.json.
    return "jupyter_ysync", __version__


_name, _version = _read_module()

#: The npm package and ipywidgets module name.
MODULE_NAME: str = _name
#: The semver range of the frontend module the widgets need.
MODULE_VERSION: str = f"^{_version}"
