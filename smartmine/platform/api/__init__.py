"""The API framework every app's `api/` package stands on: errors, permissions, pagination, OPTIONS
metadata, the filter backend, shared fields, schema and viewsets."""
