"""The API framework every app's `api/` package stands on: errors, permissions, pagination, schema and
viewsets."""
