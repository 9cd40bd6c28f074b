"""CI linking: farm results in (intake, sweep), cell history, grouping, Bugzilla plans out."""
