"""SmartMine: a digital-twin backend for open-pit mines."""

__version__ = "0.1.0"
API_VERSION = "1"

# The Celery app is imported lazily by Celery's `-A smartmine` (which looks for smartmine.celery) and by
# Django through `smartmine.apps`, so importing this package costs nothing and needs no configuration.
