"""Leaf helpers every layer may use, importing no other layer: errors with their exit
codes, durable file operations, units, log lines and signal flags."""
