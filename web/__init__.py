"""The station's local web console (SPEC §12, `printstation web`): clerks see the queue,
printers, paper, rejected files, invoices, page pictures and calibration, and act after a
login through the daemon's control socket, exactly as the CLI does.

Imports `daemon`, `drivers`, `spool`, `invoice`, `config` and `base`; nothing imports it
but the CLI's `web` command.
"""
