"""§6: what a scenario says is checked whole, so nothing slips into a shell command, a rule or the journal.

`re.match` with `$` accepts a trailing newline ("$" matches before it): `interface: "eth0\n"` made a tc
rule that matched nothing and a step that reported "held". Unicode digits and 20-digit sizes passed too,
and a URL's password was copied into every journal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controlroom.errors import ScenarioError
from controlroom.faults import shell
from controlroom.faults.net import parse_peers
from controlroom.scenario import load_scenario_text
from controlroom.units import UnitError, parse_duration, parse_percent, parse_rate, parse_size

BASE = """\
version: 1
name: hardening
hypothesis: h
environment: test
targets:
  h1: {{ssh: "root@10.0.0.1"}}
  shop: {{http: "{shop}"}}
observe:
  every: 1s
{prometheus}  metrics:
    probe: {{probe: "{probe}"}}
blast_radius: {{max_targets: 1, max_duration: 5m, allowed_environments: [test]}}
steps:
  - id: one
    title: one
    fault: {fault}
    duration: 10s
unobserved: true
"""


def problems(*, fault: str = "{type: partition, target: h1, peers: [10.0.0.2]}", shop: str = "http://shop:8080",
             probe: str = "http://shop:8080/health", prometheus: str = "") -> list[str]:
    text = BASE.format(fault=fault, shop=shop, probe=probe, prometheus=prometheus)
    try:
        load_scenario_text(text, "s.yaml")
    except ScenarioError as err:
        return [str(p) for p in err.problems]
    return []


def test_the_base_scenario_is_valid() -> None:
    assert problems() == []


@pytest.mark.parametrize("name, good", [("interface", "eth0"), ("unit_name", "nginx.service"),
                                        ("abs_path", "/var/lib/fill"), ("user_name", "www-data")])
def test_no_validator_accepts_a_trailing_newline(name: str, good: str) -> None:
    check = getattr(shell, name)
    assert check(good) == good
    for bad in (good + "\n", good + "\r\n", "\n" + good):
        with pytest.raises(ValueError):
            check(bad)
    with pytest.raises(ValueError):
        parse_peers(["10.0.0.2\n"])


def test_an_interface_with_a_newline_is_refused_where_it_is_written() -> None:
    found = problems(fault='{type: bandwidth, target: h1, rate: 1mbit, interface: "eth0\\n"}')
    assert len(found) == 1 and found[0].startswith("s.yaml:16:") and "invalid interface name 'eth0\\n'" in found[0]


@pytest.mark.parametrize("value", ["٣00ms", "３s", "1٣s"])
def test_unicode_digits_are_not_digits(value: str) -> None:
    with pytest.raises(UnitError):
        parse_duration(value)


def test_absurd_sizes_rates_and_durations_are_refused() -> None:
    with pytest.raises(UnitError, match="over 1P"):
        parse_size("99999999999999999999G")
    with pytest.raises(UnitError):
        parse_size("١G")
    with pytest.raises(UnitError, match="over 1000gbit"):
        parse_rate("99999999999gbit")
    with pytest.raises(UnitError, match="longer than 24h"):
        parse_duration("99999999999999999999h")
    with pytest.raises(UnitError):
        parse_percent("٥%")
    assert parse_size("2T") == 2 * 1024**4 and parse_duration("24h") == 86400


def test_an_absurd_fill_size_is_refused_where_it_is_written() -> None:
    found = problems(fault="{type: disk-fill, target: h1, path: /var/lib/fill, size: 99999999999999999999G}")
    assert len(found) == 1 and found[0].startswith("s.yaml:16:") and "over 1P" in found[0], found


@pytest.mark.parametrize("where", ["shop", "probe", "prometheus"])
def test_credentials_in_urls_are_refused_and_never_echoed(where: str) -> None:
    url = "http://alice:s3cr3t@shop:8080"
    kw = {"shop": {"shop": url}, "probe": {"probe": url + "/health"},
          "prometheus": {"prometheus": f"  prometheus: {{url: \"{url}\"}}\n"}}[where]
    found = problems(**kw)  # type: ignore[arg-type]
    assert len(found) == 1, found
    assert "carries credentials" in found[0] and "password_file" in found[0]
    assert "s3cr3t" not in found[0] and "alice" not in found[0]


CORE = Path(__file__).parent.parent.parent / "controlroom"
# A pattern literal that ends in "$": with re.match it also accepts the same text plus a newline.
_DOLLAR_ANCHORED = re.compile(r"""re\.(?:compile|match)\(\s*r?(["'])(?:(?!\1).)*\$\1""")


def test_no_validation_regex_is_anchored_with_dollar() -> None:
    offenders = [f"{p.relative_to(CORE.parent)}:{n}" for p in sorted(CORE.rglob("*.py"))
                 for n, line in enumerate(p.read_text().splitlines(), start=1) if _DOLLAR_ANCHORED.search(line)]
    assert offenders == [], "use re.fullmatch without '$': " + ", ".join(offenders)
