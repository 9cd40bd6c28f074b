"""Bisection of CI regressions and fixes (issue #17): which commit broke a cell, which fixed it."""
