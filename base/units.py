"""Units: PDF points and millimetres. A point is 1/72 inch; an inch is 25.4 mm."""

from __future__ import annotations

PT_MM = 25.4 / 72  # millimetres per point
MM_PT = 72 / 25.4  # points per millimetre
