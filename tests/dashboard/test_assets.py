"""The dashboard's files, without a browser: everything the page loads ships in the package,
nothing points at another origin, and the asset loader cannot be walked out of its folder."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from switchpoint.dashboard import Assets

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "switchpoint" / "dashboard" / "static"


def _files() -> list[str]:
    return sorted(str(p.relative_to(STATIC)) for p in STATIC.rglob("*") if p.is_file())


def test_package_data_ships_every_file() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["switchpoint"]
    for name in _files():
        assert any(fnmatch(f"dashboard/static/{name}", p) for p in patterns), f"{name} is not in package-data"


def test_every_reference_resolves_to_a_shipped_file() -> None:
    assets = Assets()
    index = (STATIC / "index.html").read_text()
    references = re.findall(r'(?:src|href)="([^"#]+)"', index)
    assert {"app.css", "js/app.js", "favicon.svg"} <= set(references)
    for reference in references:
        assert assets.get(reference) is not None, reference
    for script in (STATIC / "js").glob("*.js"):
        for module in re.findall(r'from "\./([\w.-]+)"', script.read_text()):
            assert (STATIC / "js" / module).is_file(), f"{script.name} imports missing {module}"


def test_nothing_refers_to_another_origin() -> None:
    for name in _files():
        text = (STATIC / name).read_text()
        # The only absolute URL allowed is the SVG namespace identifier (never fetched).
        urls = set(re.findall(r"https?://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), f"{name}: {urls}"
        assert "@import" not in text and "innerHTML" not in text, name


@pytest.mark.parametrize("name", ["../__init__.py", "js/../../__init__.py", "/etc/passwd", "index.py", ".hidden.js",
                                  "js\\app.js", "", "js/", "INDEX.HTML"])  # fmt: skip
def test_assets_refuse_names_outside_the_folder(name: str) -> None:
    assert Assets().get(name) is None


def test_assets_have_types_and_stable_etags() -> None:
    assets = Assets()
    page = assets.get("index.html")
    script = assets.get("js/charts.js")
    assert page is not None and script is not None
    assert page.content_type.startswith(b"text/html") and script.content_type.startswith(b"text/javascript")
    assert page.etag != script.etag and assets.get("index.html") is page  # read once, then cached
