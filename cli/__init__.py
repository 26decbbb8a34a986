"""The `printstation` command: argument parsing, operator commands, tables and texts."""
