"""The CI status and triage web views: a small Flask app rendered on the server.

It runs inside Buildbot's web UI (buildbot-wsgi-dashboards, see ``farm.buildbot_config``) and on
its own (``xentriage web``). Pure models (:mod:`.matrix_model`, :mod:`.triage_model`,
:mod:`.charts`) turn query results into what the templates print; adapters
(:mod:`.buildbot_db`, ``triage.store.ci_links``, ``triage.store.open_bugs``) do the reading.
"""
