"""LiveOps 直播间运营系统: one event log, one metric catalog, the live screen and the post-show review."""

from .api import Workspace, open  # noqa: A004
from .metrics import CATALOG
from .store import EventLog

__all__ = ["CATALOG", "EventLog", "Workspace", "open"]
__version__ = "0.1.0"
