"""The harness that tests and benchmarks share: a private cupsd, a fault-injecting proxy,
the head-office receiver as a fixture, the hostile corpus, invoice documents, and helpers
to run a station and read back what it printed."""
