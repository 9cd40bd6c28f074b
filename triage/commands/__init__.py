"""The ``#triage`` email commands: the planner (mails to changes), sender policy and confirmation.

Not rules: the engine plans command mails through :mod:`triage.commands.planner`.
"""
