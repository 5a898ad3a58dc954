"""Condition expressions: `series OP number`, read without eval, judged against the latest values."""

from __future__ import annotations

import math

import pytest

from controlroom.metrics.conditions import Condition, parse_condition, probe_series


@pytest.mark.parametrize(
    ("text", "series", "op", "threshold"),
    [
        ("p99_ms > 5000", "p99_ms", ">", 5000.0),
        ("success_rate < 0.95", "success_rate", "<", 0.95),
        ("checkout.success_rate >= 0.99", "checkout.success_rate", ">=", 0.99),
        ("errors == 0", "errors", "==", 0.0),
        ("errors!=0", "errors", "!=", 0.0),
        ("  queue-depth <= 1e3 ", "queue-depth", "<=", 1000.0),
        ("delta > -2.5", "delta", ">", -2.5),
        ("shop.success_rate >= 95%", "shop.success_rate", ">=", 0.95),
        ("x < .5", "x", "<", 0.5),
    ],
)
def test_conditions_parse_into_series_operator_and_threshold(text: str, series: str, op: str, threshold: float) -> None:
    cond = parse_condition(text)
    assert (cond.series, cond.op) == (series, op)
    assert cond.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("a < 1", 0.5, True), ("a < 1", 1.0, False),
        ("a <= 1", 1.0, True), ("a <= 1", 1.5, False),
        ("a > 1", 2.0, True), ("a > 1", 1.0, False),
        ("a >= 1", 1.0, True), ("a >= 1", 0.0, False),
        ("a == 0", 0.0, True), ("a == 0", 0.1, False),
        ("a != 0", 0.1, True), ("a != 0", 0.0, False),
        ("a >= 99%", 0.99, True), ("a >= 99%", 0.985, False),
    ],
)
def test_evaluate_compares_the_series_value_with_the_threshold(text: str, value: float, expected: bool) -> None:
    assert parse_condition(text).evaluate({"a": value, "other": 1e9}) is expected


def test_a_series_without_a_value_is_unknown_not_false() -> None:
    cond = parse_condition("p99_ms > 800")
    assert cond.evaluate({}) is None
    assert cond.evaluate({"p99_ms": None}) is None
    assert cond.evaluate({"p99_ms": math.nan}) is None
    assert cond.holds(900.0) is True


def test_str_gives_back_a_normalised_readable_condition() -> None:
    assert str(parse_condition("p99_ms>800")) == "p99_ms > 800"
    assert str(parse_condition("shop.success_rate >= 95%")) == "shop.success_rate >= 95%"
    assert str(Condition("x", "<", 0.5)) == "x < 0.5"
    assert parse_condition("a < 1") == parse_condition("a<1.0")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty condition"),
        ("> 5", "must start with a series name"),
        ("p99_ms", "needs an operator"),
        ("p99_ms 800", "needs an operator"),
        ("p99_ms =< 800", "write '<='"),
        ("p99_ms = 800", "write '=='"),
        ("p99_ms <", "needs a number"),
        ("p99_ms < 800ms", "plain number in the series' own unit"),
        ("p99_ms < eight", "expected a number"),
        ("p99_ms < 1 or x > 2", "expected a number"),
        ("__import__('os').system('x') > 1", "needs an operator"),
        ("a < 1e999", "must be finite"),
        (5, "a condition is a string"),
    ],
)
def test_bad_conditions_say_how_to_write_them(text: object, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_condition(text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_probe_metric_yields_the_documented_series() -> None:
    assert probe_series("checkout") == [
        "checkout.success_rate", "checkout.p50_ms", "checkout.p95_ms", "checkout.p99_ms", "checkout.rps",
    ]
