"""The service loop, intake watcher, pipeline stages and the CLI.

The top of the import graph: it composes `drivers`, `spool`, `invoice` and `config`.
"""
