"""The head-office dashboard (SPEC §11): every station's sync and printed totals, for finance."""
