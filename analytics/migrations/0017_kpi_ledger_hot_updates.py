"""The KPI ledger and its cursors are updated in place every tick (one row per unit): pages kept half free
let PostgreSQL do that as HOT updates (no index entry per update), as for the trucks' rows."""

from django.db import migrations

TABLES = ("analytics_kpiledger", "analytics_kpiledgercursor")


class Migration(migrations.Migration):
    dependencies = [("analytics", "0016_kpi_ledgers")]

    operations = [
        migrations.RunSQL(
            [f"ALTER TABLE {table} SET (fillfactor = 50)" for table in TABLES],
            [f"ALTER TABLE {table} RESET (fillfactor)" for table in TABLES],
        )
    ]
