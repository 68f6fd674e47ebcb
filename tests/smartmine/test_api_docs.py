"""The API docs work on a mine network without internet: Swagger UI comes from our static files."""

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_the_docs_page_loads_scripts_and_styles_only_from_our_static_files(client):
    html = client.get("/api/docs/").content.decode()
    assets = [url for url in _assets(html) if url.endswith((".js", ".css", ".png", ".ico"))]
    assert assets, html
    for url in assets:
        assert url.startswith("/static/"), f"{url} is not one of our static files"
        assert finders.find(url.removeprefix("/static/")), f"{url} is not shipped"
    assert not re.search(r"https?://(?!localhost|testserver)", html)
