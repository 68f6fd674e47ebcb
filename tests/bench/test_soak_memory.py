"""The soak's memory verdict (bench.soak_analysis.judge_memory): judged on each minute's lowest sample, so
bursts of buffered frames over a steady floor are not growth, and a floor that rises is."""

from bench.soak_analysis import floor_points, judge_memory


def samples(rss_at) -> list[dict]:
    """A 30-minute run sampled every 10 s, daphne's RSS given by `rss_at(t_s)`."""
    return [{"t_s": float(t), "rss_mb": {"daphne": rss_at(t), "worker": 700.0, "beat": 270.0}}
            for t in range(0, 1800, 10)]  # fmt: skip


def burst(t: int) -> float:
    """A burst on one sample a minute, growing larger as the run goes on."""
    return 100.0 + t / 5 if t % 60 < 10 else 0.0


def test_bursts_over_a_steady_floor_are_not_growth():
    run = samples(lambda t: 820.0 + burst(t))

    memory = judge_memory(run, {}, 1800.0)["daphne"]

    assert memory["slope_mb_per_10min"] > memory["limit_mb_per_10min"]  # a line through every sample rises
    assert abs(memory["floor_slope_mb_per_10min"]) < 1.0
    assert memory["no_growth"] is True


def test_a_rising_floor_is_growth_whatever_the_bursts():
    run = samples(lambda t: 820.0 + t / 60 + burst(t))  # +10 MB every 10 minutes under the bursts

    memory = judge_memory(run, {}, 1800.0)["daphne"]

    assert 9.0 < memory["floor_slope_mb_per_10min"] < 11.0
    assert memory["no_growth"] is False


def test_the_floor_is_each_windows_lowest_sample():
    points = [(0.0, 5.0), (30.0, 3.0), (59.0, 4.0), (60.0, 9.0), (119.0, 8.0), (130.0, 1.0)]

    assert floor_points(points) == [(30.0, 3.0), (119.0, 8.0), (130.0, 1.0)]
