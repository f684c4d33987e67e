"""pyproject, environment.yml and the CI constraints agree, and CI installs the pinned versions."""

from __future__ import annotations

import os
import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# `make test-lowest` runs these tests in .venv-lowest against .ci/constraints-lowest.txt.
CONSTRAINTS = ROOT / os.environ.get("COURSE_CONSTRAINTS", ".ci/constraints.txt")
LOWEST = ROOT / ".ci" / "constraints-lowest.txt"
# The libraries whose lower bounds CI tests exactly (the API-drift guard covers their calls).
LOWER_BOUNDS_TESTED = ("transformers", "peft", "bitsandbytes", "datasets", "trl")


def _pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in reqs}


def _constraints(path: Path = CONSTRAINTS) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = pinned
    return pins


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {canonicalize_name(Requirement(r).name): Requirement(r) for r in pip_section if not r.startswith("-")}
    expected = _pyproject_requirements()
    assert set(listed) == set(expected)
    for name, req in expected.items():
        assert listed[name].specifier == req.specifier, name
    assert any(re.fullmatch(r"python=3\.1[12]", str(d)) for d in env["dependencies"])
    assert "-e ." in pip_section


def test_torch_is_not_a_package_dependency():
    assert "torch" not in _pyproject_requirements()


def test_constraints_pin_every_dependency_within_its_range():
    for path in (ROOT / ".ci" / "constraints.txt", LOWEST):
        pins = _constraints(path)
        for name, req in _pyproject_requirements().items():
            assert name in pins, f"{name} is not pinned in {path.name}"
            assert req.specifier.contains(pins[name], prereleases=True), \
                f"{path.name}: {name}=={pins[name]} outside {req}"


def test_the_lowest_constraints_pin_exactly_the_lower_bounds():
    pins, reqs = _constraints(LOWEST), _pyproject_requirements()
    for name in LOWER_BOUNDS_TESTED:
        lower = [s.version for s in reqs[name].specifier if s.operator == ">="]
        assert len(lower) == 1, f"{name} needs one '>=' lower bound in pyproject.toml, has {reqs[name]}"
        assert Version(pins[name]) == Version(lower[0]), \
            f"constraints-lowest.txt pins {name}=={pins[name]}, pyproject says >={lower[0]}"


def test_installed_versions_are_the_pinned_ones():
    direct = set(_pyproject_requirements())
    for name, pinned in _constraints().items():
        try:
            installed = version(name)
        except PackageNotFoundError:  # a pin for another Python only (overrides: jupyter_server needs it below 3.12)
            assert name not in direct, f"{name} is a dependency of the course but is not installed"
            continue
        assert installed == pinned, f"{name}: installed {installed}, constraints say {pinned}"
