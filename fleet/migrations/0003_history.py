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
        ("fleet", "0002_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="TruckReading",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("ts", models.DateTimeField(verbose_name="time")),
                        (
                            "lat",
                            models.FloatField(
                                help_text="GPS latitude, -90 to 90 deg", verbose_name="lat (deg)"
                            ),
                        ),
                        (
                            "lon",
                            models.FloatField(
                                help_text="GPS longitude, -180 to 180 deg", verbose_name="lon (deg)"
                            ),
                        ),
                        (
                            "heading_deg",
                            models.FloatField(
                                help_text="heading, clockwise from north, 0 to 360 deg",
                                verbose_name="heading (deg)",
                            ),
                        ),
                        (
                            "speed_kmh",
                            models.FloatField(
                                help_text="ground speed, 0 to 120 km/h", verbose_name="speed (km/h)"
                            ),
                        ),
                        (
                            "payload_t",
                            models.FloatField(
                                help_text="payload on the tray, 0 to 400 t", verbose_name="payload (t)"
                            ),
                        ),
                        (
                            "fuel_l",
                            models.FloatField(
                                help_text="fuel in the tank (also checked against the tank size), 0 to 10000 L",
                                verbose_name="fuel (L)",
                            ),
                        ),
                        (
                            "engine_temp_c",
                            models.FloatField(
                                help_text="engine coolant temperature, -50 to 200 degC",
                                verbose_name="engine temp (degC)",
                            ),
                        ),
                        (
                            "tyre_pressure_kpa",
                            models.FloatField(
                                help_text="mean tyre pressure, 0 to 1500 kPa",
                                verbose_name="tyre pressure (kPa)",
                            ),
                        ),
                        (
                            "vibration_mm_s",
                            models.FloatField(
                                help_text="drivetrain vibration velocity (RMS), 0 to 200 mm/s",
                                verbose_name="vibration (mm/s)",
                            ),
                        ),
                        (
                            "engine_hours",
                            models.FloatField(
                                help_text="engine hour meter, 0 to 1e+06 h", verbose_name="engine hours (h)"
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
                                    ("waiting", "Waiting"),
                                    ("returning", "Returning"),
                                    ("queued_at_loader", "Queued at loader"),
                                    ("loading", "Loading"),
                                    ("hauling", "Hauling"),
                                    ("queued_at_dump", "Queued at dump"),
                                    ("dumping", "Dumping"),
                                    ("refuelling", "Refuelling"),
                                    ("maintenance", "Maintenance"),
                                    ("broken_down", "Broken down"),
                                ],
                                max_length=20,
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
                    name="TruckRollup",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("bucket", models.DateTimeField(verbose_name="minute")),
                        ("samples", models.IntegerField(help_text="readings in the minute")),
                        (
                            "lat_avg",
                            models.FloatField(
                                help_text="GPS latitude, -90 to 90 deg", verbose_name="lat (deg) avg"
                            ),
                        ),
                        (
                            "lat_min",
                            models.FloatField(
                                help_text="GPS latitude, -90 to 90 deg", verbose_name="lat (deg) min"
                            ),
                        ),
                        (
                            "lat_max",
                            models.FloatField(
                                help_text="GPS latitude, -90 to 90 deg", verbose_name="lat (deg) max"
                            ),
                        ),
                        (
                            "lon_avg",
                            models.FloatField(
                                help_text="GPS longitude, -180 to 180 deg", verbose_name="lon (deg) avg"
                            ),
                        ),
                        (
                            "lon_min",
                            models.FloatField(
                                help_text="GPS longitude, -180 to 180 deg", verbose_name="lon (deg) min"
                            ),
                        ),
                        (
                            "lon_max",
                            models.FloatField(
                                help_text="GPS longitude, -180 to 180 deg", verbose_name="lon (deg) max"
                            ),
                        ),
                        (
                            "heading_deg_avg",
                            models.FloatField(
                                help_text="heading, clockwise from north, 0 to 360 deg",
                                verbose_name="heading (deg) avg",
                            ),
                        ),
                        (
                            "heading_deg_min",
                            models.FloatField(
                                help_text="heading, clockwise from north, 0 to 360 deg",
                                verbose_name="heading (deg) min",
                            ),
                        ),
                        (
                            "heading_deg_max",
                            models.FloatField(
                                help_text="heading, clockwise from north, 0 to 360 deg",
                                verbose_name="heading (deg) max",
                            ),
                        ),
                        (
                            "speed_kmh_avg",
                            models.FloatField(
                                help_text="ground speed, 0 to 120 km/h", verbose_name="speed (km/h) avg"
                            ),
                        ),
                        (
                            "speed_kmh_min",
                            models.FloatField(
                                help_text="ground speed, 0 to 120 km/h", verbose_name="speed (km/h) min"
                            ),
                        ),
                        (
                            "speed_kmh_max",
                            models.FloatField(
                                help_text="ground speed, 0 to 120 km/h", verbose_name="speed (km/h) max"
                            ),
                        ),
                        (
                            "payload_t_avg",
                            models.FloatField(
                                help_text="payload on the tray, 0 to 400 t", verbose_name="payload (t) avg"
                            ),
                        ),
                        (
                            "payload_t_min",
                            models.FloatField(
                                help_text="payload on the tray, 0 to 400 t", verbose_name="payload (t) min"
                            ),
                        ),
                        (
                            "payload_t_max",
                            models.FloatField(
                                help_text="payload on the tray, 0 to 400 t", verbose_name="payload (t) max"
                            ),
                        ),
                        (
                            "fuel_l_avg",
                            models.FloatField(
                                help_text="fuel in the tank (also checked against the tank size), 0 to 10000 L",
                                verbose_name="fuel (L) avg",
                            ),
                        ),
                        (
                            "fuel_l_min",
                            models.FloatField(
                                help_text="fuel in the tank (also checked against the tank size), 0 to 10000 L",
                                verbose_name="fuel (L) min",
                            ),
                        ),
                        (
                            "fuel_l_max",
                            models.FloatField(
                                help_text="fuel in the tank (also checked against the tank size), 0 to 10000 L",
                                verbose_name="fuel (L) max",
                            ),
                        ),
                        (
                            "engine_temp_c_avg",
                            models.FloatField(
                                help_text="engine coolant temperature, -50 to 200 degC",
                                verbose_name="engine temp (degC) avg",
                            ),
                        ),
                        (
                            "engine_temp_c_min",
                            models.FloatField(
                                help_text="engine coolant temperature, -50 to 200 degC",
                                verbose_name="engine temp (degC) min",
                            ),
                        ),
                        (
                            "engine_temp_c_max",
                            models.FloatField(
                                help_text="engine coolant temperature, -50 to 200 degC",
                                verbose_name="engine temp (degC) max",
                            ),
                        ),
                        (
                            "tyre_pressure_kpa_avg",
                            models.FloatField(
                                help_text="mean tyre pressure, 0 to 1500 kPa",
                                verbose_name="tyre pressure (kPa) avg",
                            ),
                        ),
                        (
                            "tyre_pressure_kpa_min",
                            models.FloatField(
                                help_text="mean tyre pressure, 0 to 1500 kPa",
                                verbose_name="tyre pressure (kPa) min",
                            ),
                        ),
                        (
                            "tyre_pressure_kpa_max",
                            models.FloatField(
                                help_text="mean tyre pressure, 0 to 1500 kPa",
                                verbose_name="tyre pressure (kPa) max",
                            ),
                        ),
                        (
                            "vibration_mm_s_avg",
                            models.FloatField(
                                help_text="drivetrain vibration velocity (RMS), 0 to 200 mm/s",
                                verbose_name="vibration (mm/s) avg",
                            ),
                        ),
                        (
                            "vibration_mm_s_min",
                            models.FloatField(
                                help_text="drivetrain vibration velocity (RMS), 0 to 200 mm/s",
                                verbose_name="vibration (mm/s) min",
                            ),
                        ),
                        (
                            "vibration_mm_s_max",
                            models.FloatField(
                                help_text="drivetrain vibration velocity (RMS), 0 to 200 mm/s",
                                verbose_name="vibration (mm/s) max",
                            ),
                        ),
                        (
                            "engine_hours_avg",
                            models.FloatField(
                                help_text="engine hour meter, 0 to 1e+06 h",
                                verbose_name="engine hours (h) avg",
                            ),
                        ),
                        (
                            "engine_hours_min",
                            models.FloatField(
                                help_text="engine hour meter, 0 to 1e+06 h",
                                verbose_name="engine hours (h) min",
                            ),
                        ),
                        (
                            "engine_hours_max",
                            models.FloatField(
                                help_text="engine hour meter, 0 to 1e+06 h",
                                verbose_name="engine hours (h) max",
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
                    ],
                    options={
                        "ordering": ["-bucket"],
                        "get_latest_by": "bucket",
                        "abstract": False,
                    },
                ),
                migrations.AddField(
                    model_name="truckreading",
                    name="equipment",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="readings",
                        to="fleet.truck",
                        verbose_name="truck",
                    ),
                ),
                migrations.AddField(
                    model_name="truckrollup",
                    name="equipment",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="rollups",
                        to="fleet.truck",
                        verbose_name="truck",
                    ),
                ),
                migrations.AddIndex(
                    model_name="truckreading",
                    index=django.contrib.postgres.indexes.BrinIndex(
                        fields=["ts"], name="fleet_truckreading_ts_brin"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="truckreading",
                    constraint=models.UniqueConstraint(
                        fields=("equipment", "ts"), name="fleet_truckreading_equipment_ts_uniq"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="truckrollup",
                    constraint=models.UniqueConstraint(
                        fields=("equipment", "bucket"), name="fleet_truckrollup_equipment_bucket_uniq"
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql="""
                CREATE TABLE fleet_truckreading (
                    id bigint GENERATED BY DEFAULT AS IDENTITY,
                    ts timestamp with time zone NOT NULL,
                    lat double precision NOT NULL,
                    lon double precision NOT NULL,
                    heading_deg double precision NOT NULL,
                    speed_kmh double precision NOT NULL,
                    payload_t double precision NOT NULL,
                    fuel_l double precision NOT NULL,
                    engine_temp_c double precision NOT NULL,
                    tyre_pressure_kpa double precision NOT NULL,
                    vibration_mm_s double precision NOT NULL,
                    engine_hours double precision NOT NULL,
                    health double precision NOT NULL,
                    equipment_id bigint NOT NULL,
                    status varchar(20) NOT NULL,
                    CONSTRAINT fleet_truckreading_pkey PRIMARY KEY (id, ts),
                    CONSTRAINT fleet_truckreading_equipment_ts_uniq UNIQUE (equipment_id, ts)
                ) PARTITION BY RANGE (ts);
                CREATE INDEX fleet_truckreading_ts_brin ON fleet_truckreading USING brin (ts);
                """,
                    reverse_sql="DROP TABLE IF EXISTS fleet_truckreading CASCADE;",
                ),
                migrations.RunSQL(
                    sql="""
                CREATE TABLE fleet_truckrollup (
                    id bigint GENERATED BY DEFAULT AS IDENTITY,
                    bucket timestamp with time zone NOT NULL,
                    samples integer NOT NULL,
                    lat_avg double precision NOT NULL,
                    lat_min double precision NOT NULL,
                    lat_max double precision NOT NULL,
                    lon_avg double precision NOT NULL,
                    lon_min double precision NOT NULL,
                    lon_max double precision NOT NULL,
                    heading_deg_avg double precision NOT NULL,
                    heading_deg_min double precision NOT NULL,
                    heading_deg_max double precision NOT NULL,
                    speed_kmh_avg double precision NOT NULL,
                    speed_kmh_min double precision NOT NULL,
                    speed_kmh_max double precision NOT NULL,
                    payload_t_avg double precision NOT NULL,
                    payload_t_min double precision NOT NULL,
                    payload_t_max double precision NOT NULL,
                    fuel_l_avg double precision NOT NULL,
                    fuel_l_min double precision NOT NULL,
                    fuel_l_max double precision NOT NULL,
                    engine_temp_c_avg double precision NOT NULL,
                    engine_temp_c_min double precision NOT NULL,
                    engine_temp_c_max double precision NOT NULL,
                    tyre_pressure_kpa_avg double precision NOT NULL,
                    tyre_pressure_kpa_min double precision NOT NULL,
                    tyre_pressure_kpa_max double precision NOT NULL,
                    vibration_mm_s_avg double precision NOT NULL,
                    vibration_mm_s_min double precision NOT NULL,
                    vibration_mm_s_max double precision NOT NULL,
                    engine_hours_avg double precision NOT NULL,
                    engine_hours_min double precision NOT NULL,
                    engine_hours_max double precision NOT NULL,
                    health_avg double precision NOT NULL,
                    health_min double precision NOT NULL,
                    health_max double precision NOT NULL,
                    equipment_id bigint NOT NULL,
                    CONSTRAINT fleet_truckrollup_pkey PRIMARY KEY (id, bucket),
                    CONSTRAINT fleet_truckrollup_equipment_bucket_uniq UNIQUE (equipment_id, bucket)
                ) PARTITION BY RANGE (bucket);
                """,
                    reverse_sql="DROP TABLE IF EXISTS fleet_truckrollup CASCADE;",
                ),
            ],
        ),
    ]
