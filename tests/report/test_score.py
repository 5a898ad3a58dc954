"""The resilience score's formulas, against figures computed by hand (docs/report.md)."""

from __future__ import annotations

import pytest

from controlroom.report import score


def test_availability_is_the_mean_success_rate_while_faulted() -> None:
    assert score.availability_score([1.0, 0.5]) == pytest.approx(75.0)


def test_availability_reads_percentages_as_ratios() -> None:
    assert score.availability_score([99.0, 1.0]) == pytest.approx(99.5)


def test_availability_without_a_success_series_is_not_judged() -> None:
    assert score.availability_score([]) is None


@pytest.mark.parametrize(("recoveries", "expected"), [
    ([(10.0, 30.0)], 100.0),            # within the criterion
    ([(60.0, 30.0)], 50.0),             # twice the criterion: half the points
    ([(None, 30.0)], 0.0),              # never recovered
    ([(45.0, 30.0), (10.0, 30.0)], (100 * 30 / 45 + 100) / 2),
    ([(40.0, None)], 75.0),             # no criterion: the 30 s default
])
def test_recovery_scores_criterion_over_seconds(recoveries: list[tuple[float | None, float | None]], expected: float) -> None:
    assert score.recovery_score(recoveries) == pytest.approx(expected)


def test_recovery_without_measurements_is_not_judged() -> None:
    assert score.recovery_score([]) is None


def test_blast_radius_loses_half_per_failure() -> None:
    assert score.blast_radius_score(unconfirmed_revert=False, contained=True) == 100.0
    assert score.blast_radius_score(unconfirmed_revert=True, contained=True) == 50.0
    assert score.blast_radius_score(unconfirmed_revert=True, contained=False) == 0.0


def test_degradation_is_the_share_of_samples_inside_the_thresholds() -> None:
    assert score.degradation_score(10, 5) == pytest.approx(50.0)
    assert score.degradation_score(0, 0) is None


def test_combine_weights_the_components() -> None:
    out = score.combine({"availability": 80.0, "recovery": 100.0, "blast_radius": 100.0, "degradation": 50.0})
    # 0.35*80 + 0.25*100 + 0.20*100 + 0.20*50
    assert out["total"] == pytest.approx(83.0)
    assert out["components"]["availability"] == {"score": 80.0, "weight": 0.35, "effective_weight": 0.35, "points": 28.0}


def test_combine_scales_the_other_weights_when_a_component_cannot_be_judged() -> None:
    out = score.combine({"availability": 60.0, "recovery": 100.0, "blast_radius": 100.0, "degradation": None})
    # weights 0.35/0.8, 0.25/0.8, 0.20/0.8: 26.25 + 31.25 + 25
    assert out["total"] == pytest.approx(82.5)
    assert out["components"]["degradation"]["effective_weight"] == 0.0
    assert out["components"]["availability"]["effective_weight"] == pytest.approx(0.4375)


def test_combine_with_nothing_judged_has_no_total() -> None:
    assert score.combine({"availability": None, "recovery": None})["total"] is None
