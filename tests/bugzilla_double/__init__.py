"""A stateful Bugzilla 5.2 REST double for tests (never shipped in the package).

Start it with ``BugzillaDouble().start()`` or use the pytest fixtures in ``pytest_plugin``.
"""

from .double import CONTRACT_INSTALLATION, BugzillaDouble
from .errors import BugzillaError
from .workflow import StatusWorkflow, bugzilla_52_workflow, old_workflow

__all__ = ["CONTRACT_INSTALLATION", "BugzillaDouble", "BugzillaError", "StatusWorkflow",
           "bugzilla_52_workflow", "old_workflow"]
