"""The head-office side (SPEC §11): the receiver, its protocol checks and its storage.

Imports only the `spool` layer (for the hash chain), `config` and `base`.
"""
