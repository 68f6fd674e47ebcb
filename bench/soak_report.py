"""The soak's report: the table printed at the end, the machine it ran on, and docs/soak.md's section."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from bench.common import ROOT
from bench.soak_sampling import PERSIST_PARTS, PERSIST_PHASES, TICK_PHASES
from bench.soak_watch import GAP_S

RESULTS_DIR = ROOT / "bench" / "results"
RESULTS_FILE = RESULTS_DIR / "soak-latest.json"
DOCS_FILE = ROOT / "docs" / "soak.md"
DOCS_SECTION = "## Soak"


def table_rows(summary: dict[str, Any], interval_s: float) -> list[tuple[str, str, str]]:
    """(figure, value, verdict) rows shared by the printed table and docs/soak.md."""

    def figures(values: dict[str, float | None], keys: tuple[str, ...], form: str, unit: str) -> str:
        return " / ".join("-" if values[k] is None else format(values[k], form) for k in keys) + unit

    def ms(values: dict[str, float | None], keys: tuple[str, ...] = ("p50", "p95", "max")) -> str:
        return figures(values, keys, ",.0f", " ms")

    def seconds(values: dict[str, float | None]) -> str:
        return figures(values, ("p50", "p95", "max"), ".3f", " s")

    def verdict(ok: bool | None) -> str:
        return {True: "yes", False: "**NO**", None: ""}[ok]

    ticks, lag, ws, errors = summary["ticks"], summary["lag_s"], summary["websocket"], summary["errors"]
    skipped = ", ".join(f"{count} {reason}" for reason, count in ticks["skipped"].items()) or "none"
    rows = [
        ("duration (ticking)", f"{summary['duration_s'] / 60:.1f} min", ""),
        ("ticks applied / expected", f"{ticks['applied']:,} / {ticks['expected']:,} (every {interval_s:g} s)",
         verdict(ticks["keeps_up"])),
        ("ticks skipped; firings expired in the queue", f"{skipped}; {ticks['expired_firings']}", ""),
        ("tick duration p50 / p95 / max", ms(ticks["duration_ms"]), ""),
        ("tick lag p50 / p95 / max", seconds(lag), ""),
        ("tick lag trend (least squares)",
         f"{lag['slope_s_per_min']:+.4f} s/min (fitted rise {lag['fitted_rise_s']:+.2f} s over the run)", ""),
        (f"tick lag median, first / last {lag['window_s'] / 60:.1f} min",
         f"{lag['first_window_median_s']:.3f} / {lag['last_window_median_s']:.3f} s",
         verdict(lag["no_growth"])),
        (f"tick {'/'.join(TICK_PHASES)}, first {lag['window_s'] / 60:.1f} min",
         "mean " + ms(summary["tick_phase_means_ms"]["first"], TICK_PHASES),
         ""),
        (f"tick {'/'.join(TICK_PHASES)}, last {lag['window_s'] / 60:.1f} min",
         "mean " + ms(summary["tick_phase_means_ms"]["last"], TICK_PHASES),
         ""),
        (f"persist {'/'.join(PERSIST_PARTS)}, first / last {lag['window_s'] / 60:.1f} min",
         "mean " + ms(summary["tick_phase_means_ms"]["first"], PERSIST_PHASES)
         + "; " + ms(summary["tick_phase_means_ms"]["last"], PERSIST_PHASES),
         ""),
        (f"persist / step, first / last {lag['window_s'] / 60:.1f} min (the step, pure Python, moves only "
         "with the machine's speed)",
         speed_check(summary["tick_phase_means_ms"]), ""),
        ("CPU use, % of one core",
         ", ".join(f"{role} {pct:.0f}" for role, pct in summary["cpu_pct_of_one_core"].items()), ""),
        *(
            (f"CPU use, {when} {lag['window_s'] / 60:.1f} min, % of one core",
             ", ".join(f"{role} {pct:.0f}" for role, pct in shares.items()), "")
            for when, shares in summary.get("cpu_pct_first_last", {}).items()
        ),
        ("machine load average (1 min) p50 / max",
         f"{summary['load_average_1min']['p50']:.1f} / {summary['load_average_1min']['max']:.1f}", ""),
    ]  # fmt: skip
    for role, memory in summary["memory"].items():
        rows.append(
            (f"RSS {role}: start / end / max; slope after {memory['warm_up_s'] / 60:.1f} min, "
             "each minute's lowest (judged) / every sample",
             f"{memory['start_mb']:.0f} / {memory['end_mb']:.0f} / {memory['max_mb']:.0f} MB; "
             f"{memory.get('floor_slope_mb_per_10min', float('nan')):+.1f} / "
             f"{memory['slope_mb_per_10min']:+.1f} MB/10 min (limit {memory['limit_mb_per_10min']:.1f})",
             verdict(memory["no_growth"]))
        )  # fmt: skip
    rows += [
        (f"goal: {name}", "-" if goal["value"] is None else f"{goal['value']:,.3g}", verdict(goal["met"]))
        for name, goal in summary.get("goals", {}).items()
    ]
    rows += stall_rows(summary.get("stalls"))
    rows += [
        ("WS clients connected (attempts refused and retried)",
         f"{ws['connected']:,} / {ws['clients']:,} in {ws['connect_s']:.0f} s "
         f"({ws['connect_attempts_refused']:,})", ""),
        ("WS update frames: completeness (worst client)",
         f"{ws['completeness_pct']:.2f} % ({ws['worst_client_pct']:.2f} %) "
         f"of {ws['update_frames_published']:,.0f}",
         verdict(ws["complete_clients"] == ws["clients"])),
        ("WS latency publish->receipt p50 / p99 / max", ms(ws["latency_ms"], ("p50", "p99", "max")), ""),
        ("WS deltas dropped for slow clients; resync snapshots",
         f"{ws['deltas_dropped_for_slow_clients']:,.0f}; {ws['resync_snapshots']:,}", ""),
        ("WS disconnects", f"{errors['ws_disconnected']:,}", ""),
        ("failed tick tasks; failed broadcasts",
         f"{errors['tick_tasks_failed']:.0f}; {errors['broadcasts_failed']:.0f}", ""),
        ("error lines in logs during the run",
         ", ".join(f"{name} {count}" for name, count in errors["error_lines_by_process"].items()),
         verdict(summary["verdicts"]["no errors"])),
        ("error lines in logs while shutting down",
         ", ".join(f"{name} {count}" for name, count in errors["error_lines_at_shutdown"].items()),
         verdict(summary["verdicts"]["clean shutdown"])),
    ]  # fmt: skip
    return rows


def stall_rows(stalls: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """What explains each gap between applied ticks, and the tick worker's children one by one."""
    if not stalls:
        return []
    gaps = "; ".join(
        f"at {gap['at_s']:.0f} s, {gap['seconds']:.1f} s long: beat fired {gap['beat_fired']}/"
        f"{gap['firings_expected']}, worker received {gap['worker_received']}, I/O pressure up to "
        f"{gap['io_pressure_max']:.0%}, watcher late {gap['watcher_late_max_s']:.1f} s: {gap['cause']}"
        + (f" ({', '.join(gap['database'])})" if gap["database"] else "")
        for gap in stalls["gaps"]
    )
    children = "; ".join(
        f"{figures['rss_first_mb']:.0f} -> {figures['rss_last_mb']:.0f} MB, {figures['cpu_s']:.0f} s CPU"
        for figures in stalls["worker_children"].values()
    )
    steps = "; ".join(
        f"+{step['rise_mb']:.0f} MB at {step['at_s']:.0f} s (child {step['pid']})"
        for step in stalls["worker_child_rss_steps"]
    )
    return [
        (f"gaps between applied ticks over {GAP_S:g} s", gaps or "none", ""),
        ("tick worker children: RSS first -> last, CPU used", children or "-", ""),
        ("tick worker child RSS rises of 5 MB or more in half a second", steps or "none", ""),
    ]


def print_report(summary: dict[str, Any], interval_s: float) -> None:
    print("\n== soak")
    for figure, value, verdict in table_rows(summary, interval_s):
        print(f"{figure:56} {value:64} {verdict.strip('*')}")
    print()
    for name, ok in summary["verdicts"].items():
        print(f"  {name}: {'yes' if ok else 'NO'}")
    if summary["websocket"]["connect_errors"]:
        print("\nWebSocket connect errors:")
        for error in summary["websocket"]["connect_errors"]:
            print(f"  {error}")
    for name, lines in summary["errors"]["examples"].items():
        print(f"\nfirst error lines of {name}:")
        for line in lines:
            print(f"  {line}")


def machine() -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
        return "?"

    return {
        "cpus": os.cpu_count(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "memory": first("/proc/meminfo", "MemTotal"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


def speed_check(phases: dict[str, dict]) -> str:
    """Persist over step in the first and last window, and their ratio: on a shared machine every phase of
    a tick, the engine's pure Python included, moves by tens of percent from minute to minute; what is left
    once the step's movement is divided out is what grew with the history."""
    try:
        first = phases["first"]["persist"] / phases["first"]["step"]
        last = phases["last"]["persist"] / phases["last"]["step"]
    except (KeyError, TypeError, ZeroDivisionError):
        return "-"
    return f"{first:.1f} / {last:.1f}: ratio {last / first:.2f}"


def docs_section(results: dict[str, Any]) -> str:
    """The "## Soak" section of docs/soak.md: the run, the machine, the table and the verdicts."""
    args, box, summary = results["args"], results["machine"], results["summary"]
    verdicts = "; ".join(f"{name}: {'yes' if ok else '**no**'}" for name, ok in summary["verdicts"].items())
    lines = [
        DOCS_SECTION,
        "",
        f"Latest run: {results['started_at']}, `python -m bench.soak --minutes {args['minutes']:g} "
        f"--trucks {args['trucks']} --clients {args['clients']} --interval {args['interval']:g} "
        f"--warm-up-hours {args.get('warm_up_hours', 0):g}`, on "
        f"{box['cpus']} CPUs ({box['cpu']}, {box['memory']}), Python {box['python']}, load average "
        f"{box['load_average_at_start'][0]:.1f} at the start (the machine is shared).",
        "",
        "| figure | value | verdict |",
        "| --- | --- | --- |",
        *(f"| {figure} | {value} | {ok} |" for figure, value, ok in table_rows(summary, args["interval"])),
        "",
        f"Verdicts: {verdicts}.",
        "",
    ]  # fmt: skip
    return "\n".join(lines)


def write_docs(section: str) -> None:
    """Replace the "## Soak" section of docs/soak.md (up to the next "## " heading), keeping the rest."""
    text = DOCS_FILE.read_text() if DOCS_FILE.exists() else "# Soak test\n\n"
    start = text.find(f"\n{DOCS_SECTION}\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + ("" if end < 0 else text[end:])
    DOCS_FILE.write_text(text)
