"""What a background worker is handed: the settings, the database and the process's metrics.

The composition root's Runtime (maildesk/runtime.py) has these and more; the layers below it
name only what they use, as a Protocol, so they never import the layer that builds them.
"""

from __future__ import annotations

from typing import Protocol

from maildesk.config import Settings
from maildesk.db import Database
from maildesk.metrics import Metrics


class Context(Protocol):
    settings: Settings
    db: Database
    metrics: Metrics
