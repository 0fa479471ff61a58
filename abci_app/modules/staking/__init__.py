"""Validators: consensus keys, operators, bonded tokens and the power CometBFT sees."""
