"""History tables: append-only readings partitioned by day and one-minute rollups partitioned by month.

Django's state gets ordinary models (pk on `id`); the database gets PostgreSQL range-partitioned tables whose
primary key is (id, time) because a partitioned table's unique constraints must include the partition key.
Partitions themselves are created by fleet.readings.ensure_partitions (on demand and by the beat task).
"""

import django.contrib.postgres.indexes
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("stockpiles", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="StockpileReading",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("ts", models.DateTimeField(verbose_name="time")),
                        (
                            "level_t",
                            models.FloatField(
                                help_text="material on the pile (also checked against capacity), 0 to 1e+07 t",
                                verbose_name="level (t)",
                            ),
                        ),
                        (
                            "fill_rate_tph",
                            models.FloatField(
                                help_text="rate in from its crusher, 0 to 20000 t/h",
                                verbose_name="fill rate (t/h)",
                            ),
                        ),
                        (
                            "discharge_rate_tph",
                            models.FloatField(
                                help_text="reclaim rate out, 0 to 20000 t/h",
                                verbose_name="discharge rate (t/h)",
                            ),
                        ),
                        (
                            "utilisation_pct",
                            models.FloatField(
                                help_text="level as a share of capacity, 0 to 100 %",
                                verbose_name="utilisation (%)",
                            ),
                        ),
                        (
                            "grade_pct",
                            models.FloatField(
                                help_text="blended head grade, 0 to 100 %", verbose_name="grade (%)"
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("normal", "Normal"),
                                    ("low", "Low"),
                                    ("high", "High"),
                                    ("full", "Full"),
                                    ("empty", "Empty"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "equipment",
                            models.ForeignKey(
                                db_constraint=False,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="readings",
                                to="stockpiles.stockpile",
                                verbose_name="stockpile",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-ts"],
                        "get_latest_by": "ts",
                        "abstract": False,
                    },
                ),
                migrations.CreateModel(
                    name="StockpileRollup",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("bucket", models.DateTimeField(verbose_name="minute")),
                        ("samples", models.IntegerField(help_text="readings in the minute")),
                        (
                            "level_t_avg",
                            models.FloatField(
                                help_text="material on the pile (also checked against capacity), 0 to 1e+07 t",
                                verbose_name="level (t) avg",
                            ),
                        ),
                        (
                            "level_t_min",
                            models.FloatField(
                                help_text="material on the pile (also checked against capacity), 0 to 1e+07 t",
                                verbose_name="level (t) min",
                            ),
                        ),
                        (
                            "level_t_max",
                            models.FloatField(
                                help_text="material on the pile (also checked against capacity), 0 to 1e+07 t",
                                verbose_name="level (t) max",
                            ),
                        ),
                        (
                            "fill_rate_tph_avg",
                            models.FloatField(
                                help_text="rate in from its crusher, 0 to 20000 t/h",
                                verbose_name="fill rate (t/h) avg",
                            ),
                        ),
                        (
                            "fill_rate_tph_min",
                            models.FloatField(
                                help_text="rate in from its crusher, 0 to 20000 t/h",
                                verbose_name="fill rate (t/h) min",
                            ),
                        ),
                        (
                            "fill_rate_tph_max",
                            models.FloatField(
                                help_text="rate in from its crusher, 0 to 20000 t/h",
                                verbose_name="fill rate (t/h) max",
                            ),
                        ),
                        (
                            "discharge_rate_tph_avg",
                            models.FloatField(
                                help_text="reclaim rate out, 0 to 20000 t/h",
                                verbose_name="discharge rate (t/h) avg",
                            ),
                        ),
                        (
                            "discharge_rate_tph_min",
                            models.FloatField(
                                help_text="reclaim rate out, 0 to 20000 t/h",
                                verbose_name="discharge rate (t/h) min",
                            ),
                        ),
                        (
                            "discharge_rate_tph_max",
                            models.FloatField(
                                help_text="reclaim rate out, 0 to 20000 t/h",
                                verbose_name="discharge rate (t/h) max",
                            ),
                        ),
                        (
                            "utilisation_pct_avg",
                            models.FloatField(
                                help_text="level as a share of capacity, 0 to 100 %",
                                verbose_name="utilisation (%) avg",
                            ),
                        ),
                        (
                            "utilisation_pct_min",
                            models.FloatField(
                                help_text="level as a share of capacity, 0 to 100 %",
                                verbose_name="utilisation (%) min",
                            ),
                        ),
                        (
                            "utilisation_pct_max",
                            models.FloatField(
                                help_text="level as a share of capacity, 0 to 100 %",
                                verbose_name="utilisation (%) max",
                            ),
                        ),
                        (
                            "grade_pct_avg",
                            models.FloatField(
                                help_text="blended head grade, 0 to 100 %", verbose_name="grade (%) avg"
                            ),
                        ),
                        (
                            "grade_pct_min",
                            models.FloatField(
                                help_text="blended head grade, 0 to 100 %", verbose_name="grade (%) min"
                            ),
                        ),
                        (
                            "grade_pct_max",
                            models.FloatField(
                                help_text="blended head grade, 0 to 100 %", verbose_name="grade (%) max"
                            ),
                        ),
                        (
                            "equipment",
                            models.ForeignKey(
                                db_constraint=False,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="rollups",
                                to="stockpiles.stockpile",
                                verbose_name="stockpile",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-bucket"],
                        "get_latest_by": "bucket",
                        "abstract": False,
                    },
                ),
                migrations.AddIndex(
                    model_name="stockpilereading",
                    index=django.contrib.postgres.indexes.BrinIndex(
                        fields=["ts"], name="stockpiles_reading_ts_brin"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="stockpilereading",
                    constraint=models.UniqueConstraint(
                        fields=("equipment", "ts"), name="stockpiles_stockpilereading_equipment_ts_uniq"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="stockpilerollup",
                    constraint=models.UniqueConstraint(
                        fields=("equipment", "bucket"),
                        name="stockpiles_stockpilerollup_equipment_bucket_uniq",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql="""
                CREATE TABLE stockpiles_stockpilereading (
                    id bigint GENERATED BY DEFAULT AS IDENTITY,
                    ts timestamp with time zone NOT NULL,
                    level_t double precision NOT NULL,
                    fill_rate_tph double precision NOT NULL,
                    discharge_rate_tph double precision NOT NULL,
                    utilisation_pct double precision NOT NULL,
                    grade_pct double precision NOT NULL,
                    equipment_id bigint NOT NULL,
                    status varchar(16) NOT NULL,
                    CONSTRAINT stockpiles_stockpilereading_pkey PRIMARY KEY (id, ts),
                    CONSTRAINT stockpiles_stockpilereading_equipment_ts_uniq UNIQUE (equipment_id, ts)
                ) PARTITION BY RANGE (ts);
                CREATE INDEX stockpiles_reading_ts_brin ON stockpiles_stockpilereading USING brin (ts);
                """,
                    reverse_sql="DROP TABLE IF EXISTS stockpiles_stockpilereading CASCADE;",
                ),
                migrations.RunSQL(
                    sql="""
                CREATE TABLE stockpiles_stockpilerollup (
                    id bigint GENERATED BY DEFAULT AS IDENTITY,
                    bucket timestamp with time zone NOT NULL,
                    samples integer NOT NULL,
                    level_t_avg double precision NOT NULL,
                    level_t_min double precision NOT NULL,
                    level_t_max double precision NOT NULL,
                    fill_rate_tph_avg double precision NOT NULL,
                    fill_rate_tph_min double precision NOT NULL,
                    fill_rate_tph_max double precision NOT NULL,
                    discharge_rate_tph_avg double precision NOT NULL,
                    discharge_rate_tph_min double precision NOT NULL,
                    discharge_rate_tph_max double precision NOT NULL,
                    utilisation_pct_avg double precision NOT NULL,
                    utilisation_pct_min double precision NOT NULL,
                    utilisation_pct_max double precision NOT NULL,
                    grade_pct_avg double precision NOT NULL,
                    grade_pct_min double precision NOT NULL,
                    grade_pct_max double precision NOT NULL,
                    equipment_id bigint NOT NULL,
                    CONSTRAINT stockpiles_stockpilerollup_pkey PRIMARY KEY (id, bucket),
                    CONSTRAINT stockpiles_stockpilerollup_equipment_bucket_uniq UNIQUE (equipment_id, bucket)
                ) PARTITION BY RANGE (bucket);
                """,
                    reverse_sql="DROP TABLE IF EXISTS stockpiles_stockpilerollup CASCADE;",
                ),
            ],
        ),
    ]
