"""REST API of the fleet app (routes in urls.py, shared rules in smartmine.platform.api)."""
