"""Permission names of the analytics app, as `user.has_perm` takes them ("app_label.codename").

Declared in the models' Meta.permissions: the first three on Alert (where migration 0001 put them), the
last on Recommendation; granted to the roles by migrations 0003_roles and 0006_ml_beat_and_roles.
"""

ACKNOWLEDGE_ALERT = "analytics.acknowledge_alert"
RETRAIN_MODELS = "analytics.retrain_models"
RUN_SCENARIOS = "analytics.run_scenarios"
DECIDE_RECOMMENDATION = "analytics.decide_recommendation"
