"""The README is also the package's page on an index, where only absolute addresses resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
LINK = re.compile(r"(!?)\[[^\]]*\]\(([^)\s]+)\)")


def _links(text: str) -> list[tuple[bool, str]]:
    return [(bang == "!", target) for bang, target in LINK.findall(text)]


def _relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:|^#", target)


def test_readme_embeds_no_image_by_a_relative_path():
    if not README.exists():
        pytest.skip("README.md is not shipped in this tree")
    images = [t for is_image, t in _links(README.read_text()) if is_image and _relative(t)]
    assert images == [], f"images an index page cannot show: {images}"


def test_readme_relative_links_name_files_in_the_repository():
    if not README.exists():
        pytest.skip("README.md is not shipped in this tree")
    missing = [t for _, t in _links(README.read_text()) if _relative(t) and not (README.parent / t.split("#")[0]).exists()]
    assert missing == []


def test_the_link_scan_sees_images_and_links():
    found = _links("see ![plot](docs/a.png) and [x](https://e.org/b) and [c](CONTRIBUTING.md#perf)")
    assert found == [(True, "docs/a.png"), (False, "https://e.org/b"), (False, "CONTRIBUTING.md#perf")]
    assert [_relative(t) for _, t in found] == [True, False, True]
