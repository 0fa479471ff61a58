"""Differential fuzzing of the application: hostile and mutated-valid inputs, compared across apps.

``mutations`` holds the byte- and message-level mutators, ``world`` the chain the inputs run on (funded
accounts, four simulated validators, the step driver and the checks), ``runner`` the command the
process-level tests run under different ``PYTHONHASHSEED`` and ``int_max_str_digits`` settings.
"""
