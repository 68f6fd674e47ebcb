"""REST API of the stockpiles app (routes in urls.py, shared rules in smartmine.platform.api)."""
