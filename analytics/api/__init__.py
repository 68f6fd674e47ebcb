"""REST API of the analytics app (routes in urls.py, shared rules in smartmine.platform.api)."""
