"""The rules of ci-bot, in plain Python: builds and their states, projects, names.

Nothing here does I/O or imports a framework (an import-linter contract checks it); time
and the acting user are passed in, so every rule can be tested without a clock or a server.
"""
