"""A Compute API (Nova) and minimal Identity (Keystone) simulator over real HTTP."""

from rhworker.sim.control import SimControl, SimControlError
from rhworker.sim.server import Simulator

__all__ = ["SimControl", "SimControlError", "Simulator"]
