"""The REST gateway: the query services over HTTP/JSON at ``app.json`` ``api_address`` (docs/rest.md)."""
