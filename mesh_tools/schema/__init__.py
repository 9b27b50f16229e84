"""Document schemas: which elements exist, which attributes they carry and which children they allow.

``MeshSchema`` and its parts are the model (``_model``); ``rules`` states what a schema allows and the
error each breach produces, for the document and the tools alike (see docs/adr/0008-document-package.md).
"""

from . import _rules as rules
from ._model import (
    ChildProperty,
    ElementType,
    MeshSchema,
    Property,
    SimpleValue,
    TextMark,
    TextProperty,
    ValueProperty,
)
from ._rules import ID_ATTRIBUTE

__all__ = [
    "ID_ATTRIBUTE",
    "ChildProperty",
    "ElementType",
    "MeshSchema",
    "Property",
    "SimpleValue",
    "TextMark",
    "TextProperty",
    "ValueProperty",
    "rules",
]
