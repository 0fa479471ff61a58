"""Scheduled, bonded, isolated task execution: the task-manager interface as chain messages and queries."""
