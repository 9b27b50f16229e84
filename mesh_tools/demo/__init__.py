"""The ``mesh-tools demo`` application: a team writing a launch plan in the report schema.

With no model available the demo's three roles are played by the scripted policies here
(:func:`demo_policies`) on a :class:`~mesh_tools.agent.ScriptedModel`; the run is then labelled
scripted from its first line to its last.
"""

from ._policies import (
    DEMO_TASK,
    DEMO_TITLE,
    ArchitectPolicy,
    ReviewerPolicy,
    WriterPolicy,
    demo_policies,
    demo_schema,
)

__all__ = [
    "DEMO_TASK",
    "DEMO_TITLE",
    "ArchitectPolicy",
    "ReviewerPolicy",
    "WriterPolicy",
    "demo_policies",
    "demo_schema",
]
