"""The live operations dashboard: one Django-rendered page, plain JavaScript, vendored libraries.

Templates and static files live under the `smartmine` app (smartmine/templates/dashboard/,
smartmine/static/dashboard/), so APP_DIRS and the app static finder find them with no settings of their own.
"""
