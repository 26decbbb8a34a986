"""The running station service: the service loop, one runner per pipeline stage
(intake, reader, printer, finisher, sync, metrics), signals, systemd notify and metrics.
"""
