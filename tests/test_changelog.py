"""CHANGELOG.md in Keep a Changelog form: every released heading has its compare link, ``[Unreleased]`` compares from
the newest release, and the package's version is that release (0.35.0 was released with no link and ``[Unreleased]``
still comparing from v0.34.0)."""

import re
from pathlib import Path

from workload_predictor import __version__

CHANGELOG = (Path(__file__).resolve().parents[1] / "CHANGELOG.md").read_text(encoding="utf-8")
RELEASES = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", CHANGELOG, flags=re.M)
LINKS = dict(re.findall(r"^\[([^\]]+)\]: (\S+)$", CHANGELOG, flags=re.M))


def test_the_newest_release_is_the_packages_version_and_unreleased_compares_from_it():
    assert RELEASES and RELEASES[0] == __version__
    assert CHANGELOG.index("## [Unreleased]") < CHANGELOG.index(f"## [{__version__}]")
    assert LINKS["Unreleased"] == f"../../compare/v{__version__}...HEAD"


def test_every_release_has_its_compare_link_to_the_release_before():
    assert len(RELEASES) == len(set(RELEASES))
    for newer, older in zip(RELEASES, RELEASES[1:]):
        assert LINKS.get(newer) == f"../../compare/v{older}...v{newer}", newer
    assert LINKS.get(RELEASES[-1]) == f"../../releases/tag/v{RELEASES[-1]}"
