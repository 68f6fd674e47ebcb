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
        ("plants", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="CrusherReading",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("ts", models.DateTimeField(verbose_name="time")),
                        (
                            "throughput_tph",
                            models.FloatField(
                                help_text="product out of the crusher, 0 to 20000 t/h",
                                verbose_name="throughput (t/h)",
                            ),
                        ),
                        (
                            "feed_bin_t",
                            models.FloatField(
                                help_text="material waiting in the feed bin, 0 to 5000 t",
                                verbose_name="feed bin (t)",
                            ),
                        ),
                        (
                            "efficiency_pct",
                            models.FloatField(
                                help_text="share of rated capacity achievable now, 0 to 100 %",
                                verbose_name="efficiency (%)",
                            ),
                        ),
                        (
                            "temperature_c",
                            models.FloatField(
                                help_text="bearing temperature, -50 to 200 degC",
                                verbose_name="temperature (degC)",
                            ),
                        ),
                        (
                            "vibration_mm_s",
                            models.FloatField(
                                help_text="frame vibration velocity (RMS), 0 to 200 mm/s",
                                verbose_name="vibration (mm/s)",
                            ),
                        ),
                        (
                            "power_kw",
                            models.FloatField(
                                help_text="motor power draw, 0 to 5000 kW", verbose_name="power (kW)"
                            ),
                        ),
                        (
                            "liner_wear_pct",
                            models.FloatField(
                                help_text="liner wear, 100 = due for change, 0 to 100 %",
                                verbose_name="liner wear (%)",
                            ),
                        ),
                        (
                            "health",
                            models.FloatField(
                                help_text="health score, 0 to 100 %", verbose_name="health (%)"
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("running", "Running"),
                                    ("idle", "Idle"),
                                    ("blocked", "Blocked"),
                                    ("maintenance", "Maintenance"),
                                    ("broken_down", "Broken down"),
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
                                to="plants.crusher",
                                verbose_name="crusher",
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
                    name="CrusherRollup",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("bucket", models.DateTimeField(verbose_name="minute")),
                        ("samples", models.IntegerField(help_text="readings in the minute")),
                        (
                            "throughput_tph_avg",
                            models.FloatField(
                                help_text="product out of the crusher, 0 to 20000 t/h",
                                verbose_name="throughput (t/h) avg",
                            ),
                        ),
                        (
                            "throughput_tph_min",
                            models.FloatField(
                                help_text="product out of the crusher, 0 to 20000 t/h",
                                verbose_name="throughput (t/h) min",
                            ),
                        ),
                        (
                            "throughput_tph_max",
                            models.FloatField(
                                help_text="product out of the crusher, 0 to 20000 t/h",
                                verbose_name="throughput (t/h) max",
                            ),
                        ),
                        (
                            "feed_bin_t_avg",
                            models.FloatField(
                                help_text="material waiting in the feed bin, 0 to 5000 t",
                                verbose_name="feed bin (t) avg",
                            ),
                        ),
                        (
                            "feed_bin_t_min",
                            models.FloatField(
                                help_text="material waiting in the feed bin, 0 to 5000 t",
                                verbose_name="feed bin (t) min",
                            ),
                        ),
                        (
                            "feed_bin_t_max",
                            models.FloatField(
                                help_text="material waiting in the feed bin, 0 to 5000 t",
                                verbose_name="feed bin (t) max",
                            ),
                        ),
                        (
                            "efficiency_pct_avg",
                            models.FloatField(
                                help_text="share of rated capacity achievable now, 0 to 100 %",
                                verbose_name="efficiency (%) avg",
                            ),
                        ),
                        (
                            "efficiency_pct_min",
                            models.FloatField(
                                help_text="share of rated capacity achievable now, 0 to 100 %",
                                verbose_name="efficiency (%) min",
                            ),
                        ),
                        (
                            "efficiency_pct_max",
                            models.FloatField(
                                help_text="share of rated capacity achievable now, 0 to 100 %",
                                verbose_name="efficiency (%) max",
                            ),
                        ),
                        (
                            "temperature_c_avg",
                            models.FloatField(
                                help_text="bearing temperature, -50 to 200 degC",
                                verbose_name="temperature (degC) avg",
                            ),
                        ),
                        (
                            "temperature_c_min",
                            models.FloatField(
                                help_text="bearing temperature, -50 to 200 degC",
                                verbose_name="temperature (degC) min",
                            ),
                        ),
                        (
                            "temperature_c_max",
                            models.FloatField(
                                help_text="bearing temperature, -50 to 200 degC",
                                verbose_name="temperature (degC) max",
                            ),
                        ),
                        (
                            "vibration_mm_s_avg",
                            models.FloatField(
                                help_text="frame vibration velocity (RMS), 0 to 200 mm/s",
                                verbose_name="vibration (mm/s) avg",
                            ),
                        ),
                        (
                            "vibration_mm_s_min",
                            models.FloatField(
                                help_text="frame vibration velocity (RMS), 0 to 200 mm/s",
                                verbose_name="vibration (mm/s) min",
                            ),
                        ),
                        (
                            "vibration_mm_s_max",
                            models.FloatField(
                                help_text="frame vibration velocity (RMS), 0 to 200 mm/s",
                                verbose_name="vibration (mm/s) max",
                            ),
                        ),
                        (
                            "power_kw_avg",
                            models.FloatField(
                                help_text="motor power draw, 0 to 5000 kW", verbose_name="power (kW) avg"
                            ),
                        ),
                        (
                            "power_kw_min",
                            models.FloatField(
                                help_text="motor power draw, 0 to 5000 kW", verbose_name="power (kW) min"
                            ),
                        ),
                        (
                            "power_kw_max",
                            models.FloatField(
                                help_text="motor power draw, 0 to 5000 kW", verbose_name="power (kW) max"
                            ),
                        ),
                        (
                            "liner_wear_pct_avg",
                            models.FloatField(
                                help_text="liner wear, 100 = due for change, 0 to 100 %",
                                verbose_name="liner wear (%) avg",
                            ),
                        ),
                        (
                            "liner_wear_pct_min",
                            models.FloatField(
                                help_text="liner wear, 100 = due for change, 0 to 100 %",
                                verbose_name="liner wear (%) min",
                            ),
                        ),
                        (
                            "liner_wear_pct_max",
                            models.FloatField(
                                help_text="liner wear, 100 = due for change, 0 to 100 %",
                                verbose_name="liner wear (%) max",
                            ),
                        ),
                        (
                            "health_avg",
                            models.FloatField(
                                help_text="health score, 0 to 100 %", verbose_name="health (%) avg"
                            ),
                        ),
                        (
                            "health_min",
                            models.FloatField(
                                help_text="health score, 0 to 100 %", verbose_name="health (%) min"
                            ),
                        ),
                        (
                            "health_max",
                            models.FloatField(
                                help_text="health score, 0 to 100 %", verbose_name="health (%) max"
                            ),
                        ),
                        (
                            "equipment",
                            models.ForeignKey(
                                db_constraint=False,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="rollups",
                                to="plants.crusher",
                                verbose_name="crusher",
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
                    model_name="crusherreading",
                    index=django.contrib.postgres.indexes.BrinIndex(
                        fields=["ts"], name="plants_crusherreading_ts_brin"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="crusherreading",
                    constraint=models.UniqueConstraint(
                        fields=("equipment", "ts"), name="plants_crusherreading_equipment_ts_uniq"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="crusherrollup",
                    constraint=models.UniqueConstraint(
                        fields=("equipment", "bucket"), name="plants_crusherrollup_equipment_bucket_uniq"
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql="""
                CREATE TABLE plants_crusherreading (
                    id bigint GENERATED BY DEFAULT AS IDENTITY,
                    ts timestamp with time zone NOT NULL,
                    throughput_tph double precision NOT NULL,
                    feed_bin_t double precision NOT NULL,
                    efficiency_pct double precision NOT NULL,
                    temperature_c double precision NOT NULL,
                    vibration_mm_s double precision NOT NULL,
                    power_kw double precision NOT NULL,
                    liner_wear_pct double precision NOT NULL,
                    health double precision NOT NULL,
                    equipment_id bigint NOT NULL,
                    status varchar(16) NOT NULL,
                    CONSTRAINT plants_crusherreading_pkey PRIMARY KEY (id, ts),
                    CONSTRAINT plants_crusherreading_equipment_ts_uniq UNIQUE (equipment_id, ts)
                ) PARTITION BY RANGE (ts);
                CREATE INDEX plants_crusherreading_ts_brin ON plants_crusherreading USING brin (ts);
                """,
                    reverse_sql="DROP TABLE IF EXISTS plants_crusherreading CASCADE;",
                ),
                migrations.RunSQL(
                    sql="""
                CREATE TABLE plants_crusherrollup (
                    id bigint GENERATED BY DEFAULT AS IDENTITY,
                    bucket timestamp with time zone NOT NULL,
                    samples integer NOT NULL,
                    throughput_tph_avg double precision NOT NULL,
                    throughput_tph_min double precision NOT NULL,
                    throughput_tph_max double precision NOT NULL,
                    feed_bin_t_avg double precision NOT NULL,
                    feed_bin_t_min double precision NOT NULL,
                    feed_bin_t_max double precision NOT NULL,
                    efficiency_pct_avg double precision NOT NULL,
                    efficiency_pct_min double precision NOT NULL,
                    efficiency_pct_max double precision NOT NULL,
                    temperature_c_avg double precision NOT NULL,
                    temperature_c_min double precision NOT NULL,
                    temperature_c_max double precision NOT NULL,
                    vibration_mm_s_avg double precision NOT NULL,
                    vibration_mm_s_min double precision NOT NULL,
                    vibration_mm_s_max double precision NOT NULL,
                    power_kw_avg double precision NOT NULL,
                    power_kw_min double precision NOT NULL,
                    power_kw_max double precision NOT NULL,
                    liner_wear_pct_avg double precision NOT NULL,
                    liner_wear_pct_min double precision NOT NULL,
                    liner_wear_pct_max double precision NOT NULL,
                    health_avg double precision NOT NULL,
                    health_min double precision NOT NULL,
                    health_max double precision NOT NULL,
                    equipment_id bigint NOT NULL,
                    CONSTRAINT plants_crusherrollup_pkey PRIMARY KEY (id, bucket),
                    CONSTRAINT plants_crusherrollup_equipment_bucket_uniq UNIQUE (equipment_id, bucket)
                ) PARTITION BY RANGE (bucket);
                """,
                    reverse_sql="DROP TABLE IF EXISTS plants_crusherrollup CASCADE;",
                ),
            ],
        ),
    ]
