"""``python -m mesh_tools`` runs the ``mesh-tools`` command."""

import sys

from .cli import main

sys.exit(main())
