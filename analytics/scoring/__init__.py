"""The Django side of the ML core (analytics.ml, pure): the registry of trained model versions (train,
promote, load by hash), live scoring of sites (failure risk, sensor anomalies) and their endpoints.
See docs/ml.md."""
