"""The application's protocol version: Info reports it, every block header carries it, and genesis
consensus params record it (``version.app``). Kept apart so that light tools (``taskmaster init``)
need not import the whole application."""

APP_VERSION = 1
