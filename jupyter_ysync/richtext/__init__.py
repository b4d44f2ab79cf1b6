"""Rich text with Quill 2 semantics over a pycrdt ``Text``, and its HTML and Markdown forms.

- :class:`RichText` (``_text``): reads and writes the room's text as an editor bound with
  y-quill sees it, on top of the delta interpreter (``_apply``), the index conversions
  (``_units``) and the argument checks (``_validate``).
- :mod:`.delta`: the Quill delta vocabulary (ops, attributes, line formats, the line model).
- :mod:`.html` and :mod:`.markdown`: conversions of deltas to sanitised HTML and to and from
  Markdown (markdown-it is imported by the latter only).
"""

from __future__ import annotations

from ._text import RichText as RichText
from ._text import TextHost as TextHost
from ._units import EMBED_CHARACTER as EMBED_CHARACTER
from ._units import to_units as to_units
from ._units import units_of as units_of

__all__ = ["EMBED_CHARACTER", "RichText", "TextHost", "to_units", "units_of"]
