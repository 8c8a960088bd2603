"""Shared fixtures of the RCL tests.

- ``small_incident(fault, seed)`` / ``full_incident(fault, seed)``: generated incidents of the one small
  preset (:data:`rcl_support.incidents.SMALL`) or of the generator's default size, each generated once per
  test run and shared (read them, never change them);
- ``cli(args)``: the ``faultwise`` command line in-process, returning (exit code, stdout, stderr);
- ``llm``: the LLM test helpers (a quick-to-fail client of the loopback chat server, scripted answers, the
  in-process client), see :class:`rcl_support.llm.LLMKit`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rcl_support.files import run_cli
from rcl_support.incidents import SMALL, full_incident, small_incident
from rcl_support.llm import LLMKit

from faultwise.rcl.simulate import SynthConfig, SynthIncident


@pytest.fixture(scope="session")
def small_preset() -> SynthConfig:
    """The small synthetic-incident preset (a few thousand spans)."""
    return SMALL


@pytest.fixture(scope="session", name="small_incident")
def small_incident_fixture() -> Callable[..., SynthIncident]:
    return small_incident


@pytest.fixture(scope="session", name="full_incident")
def full_incident_fixture() -> Callable[..., SynthIncident]:
    return full_incident


@pytest.fixture
def cli(capsys) -> Callable[[list], tuple[int, str, str]]:
    return lambda args: run_cli(capsys, args)


@pytest.fixture(scope="session")
def llm() -> LLMKit:
    return LLMKit()
