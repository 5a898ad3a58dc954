"""Every file in tests/scenario/broken/ is refused with exactly the problems its `# expect:` lines name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controlroom.errors import ScenarioError
from controlroom.scenario import load_scenario

BROKEN = Path(__file__).parent / "broken"
EXPECT_RE = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def expectations(path: Path) -> list[tuple[int, int, str]]:
    out = []
    for line in path.read_bytes().decode("utf-8", "replace").splitlines():
        m = EXPECT_RE.match(line)
        if not m:
            break
        out.append((int(m.group(1)), int(m.group(2)), m.group(3)))
    return out


CORPUS = sorted(BROKEN.glob("*.yaml"))


def test_the_corpus_is_big_enough_and_every_file_says_what_it_expects() -> None:
    assert len(CORPUS) >= 25
    for path in CORPUS:
        assert expectations(path), f"{path.name} has no '# expect: LINE:COL: message' first line"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_broken_scenario_is_refused_with_located_one_line_problems(path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    problems = info.value.problems
    for p in problems:
        assert p.file == str(path)
        assert p.line >= 1 and p.col >= 1
        assert "\n" not in p.message and "\r" not in p.message
        assert p.message.strip() == p.message and p.message
    got = [(p.line, p.col, p.message) for p in problems]
    wanted = expectations(path)
    unmatched = [w for w in wanted if not any(g[:2] == w[:2] and w[2] in g[2] for g in got)]
    assert not unmatched, f"expected problems not reported: {unmatched}; got {got}"
    assert len(got) == len(wanted), f"unexpected extra problems: {got}"
