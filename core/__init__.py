"""The shared kernel: what every app may use, that knows no app.

Nothing here imports an app of the project (import-linter's contract "core knows no app" in
pyproject.toml enforces it): errors, the actor of a change, queueing after commit, encrypted
fields, time periods, translated labels, the cut-off cycle port, row locks, the content
security policy's helpers.
"""
