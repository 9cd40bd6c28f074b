"""Bisection of CI regressions and fixes (issue #17): which commit broke a cell, which fixed it.

Entry points: ``driver.run_bisection(request, CommitLog, runner, BisectSettings, now)`` runs
one; ``local.local_setup(settings, cell, slots=...)`` builds the local runner and commit log
from ``[bisect]``; ``render.to_json`` / ``from_json`` keep an outcome; docs/bisection.md.
"""
