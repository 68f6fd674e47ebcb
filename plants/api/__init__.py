"""REST API of the plants app (routes in urls.py, shared rules in smartmine.platform.api)."""
