"""PPD files for invoice printers (package data)."""
