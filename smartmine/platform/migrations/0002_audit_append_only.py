"""The audit log is append-only in the database itself: UPDATE and DELETE raise, whoever issues them.

TRUNCATE is left to the table owner (test databases are emptied with it); production should run the web and
worker processes as a role that does not own the tables (docs/operations.md).
"""

from django.db import migrations

FORBID = """
CREATE FUNCTION smartmine_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER smartmine_auditentry_append_only
    BEFORE UPDATE OR DELETE ON smartmine_auditentry
    FOR EACH ROW EXECUTE FUNCTION smartmine_audit_append_only();
"""
ALLOW = """
DROP TRIGGER IF EXISTS smartmine_auditentry_append_only ON smartmine_auditentry;
DROP FUNCTION IF EXISTS smartmine_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("smartmine", "0001_audit_log")]
    operations = [migrations.RunSQL(FORBID, ALLOW)]
