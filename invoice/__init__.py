"""The invoice domain: model, parsers and validation rules.

This layer imports no other printstation layer.
"""

from .asis import AsIs
from .capitals import parse_capitals, to_capitals, words_match
from .formats import FileRead, Item, read_file
from .json_format import invoice_from_dict
from .model import KINDS, PAPER_KINDS, Invoice, Line, Party
from .problems import MESSAGES, Problem, problem
from .validate import Rules, validate

__all__ = [
    "KINDS",
    "MESSAGES",
    "PAPER_KINDS",
    "AsIs",
    "FileRead",
    "Invoice",
    "Item",
    "Line",
    "Party",
    "Problem",
    "Rules",
    "invoice_from_dict",
    "parse_capitals",
    "problem",
    "read_file",
    "to_capitals",
    "validate",
    "words_match",
]
