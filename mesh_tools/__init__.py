"""mesh-tools: live, schema-typed CRDT documents that people and LLM agents co-edit."""

from .schema import ChildProperty, ElementType, MeshSchema, ValueProperty

__all__ = ["ChildProperty", "ElementType", "MeshSchema", "ValueProperty"]
