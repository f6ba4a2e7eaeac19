"""Data: every input format, tokenisers, vocabularies, the prepared cache, batches and splits.

Imports only the ground modules (config, runs, errors, system); nothing here knows about models.
"""
