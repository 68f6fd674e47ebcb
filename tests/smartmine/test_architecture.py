"""The house keeps its shape (docs/architecture.md): layers, a pure core, model relations that point down.

`lint-imports` (run by `make test` before pytest) enforces the import contracts in pyproject.toml; these
tests keep those contracts honest: the roof layer lists every wiring module, the pure modules really import
without Django, and the relations between models, which no import shows when they are named by strings,
follow the same layers.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = {
    contract["id"]: contract
    for contract in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
}
#: Domain apps from the top down, as in the "house" contract.
APP_LAYERS = list(CONTRACTS["house"]["layers"][1:-1])
#: Relations that point up a layer, each named and justified in docs/architecture.md.
UPWARD_RELATIONS = {("fleet.Truck", "destination_crusher")}


def _roof_modules() -> set[str]:
    return {name.strip() for name in CONTRACTS["house"]["layers"][0].split(":")}


def test_the_roof_layer_names_every_module_of_smartmine_but_the_platform():
    package = ROOT / "smartmine"
    found = {
        f"smartmine.{path.stem if path.is_file() else path.name}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    } - {"smartmine.platform"}
    assert found == _roof_modules()


def test_the_layers_are_the_domain_apps_between_the_roof_and_the_platform():
    assert APP_LAYERS == ["analytics", "plants", "stockpiles", "fleet"]
    assert CONTRACTS["house"]["layers"][-1] == "smartmine.platform"


@pytest.mark.parametrize("module", CONTRACTS["pure"]["source_modules"])
def test_a_pure_module_imports_without_django(module):
    """A fresh interpreter imports the module, or every module of the package, and what they import, with
    Django nowhere in sys.modules."""
    code = (
        "import sys, importlib, pkgutil; "
        f"top = importlib.import_module({module!r}); "
        "[importlib.import_module(info.name) for info in "
        "pkgutil.walk_packages(getattr(top, '__path__', []), top.__name__ + '.')]; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'rest_framework', 'celery', 'channels'}); "
        "assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_pure_package_module_is_covered_by_the_contract():
    """A new module inside a pure package is pure too: the contract names packages, so it is covered."""
    for module in CONTRACTS["pure"]["source_modules"]:
        path = ROOT / module.replace(".", "/")
        assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), module


@pytest.mark.django_db
def test_model_relations_point_down_the_layers_but_the_named_exception():
    from django.apps import apps

    rank = {label: position for position, label in enumerate(APP_LAYERS)}
    upward = set()
    for model in apps.get_models():
        source = model._meta.app_label
        for field in model._meta.get_fields():
            if not field.is_relation or field.auto_created or field.related_model is None:
                continue
            target = field.related_model._meta.app_label
            if source in rank and target in rank and rank[target] < rank[source]:
                upward.add((model._meta.label, field.name))
    assert upward == UPWARD_RELATIONS
