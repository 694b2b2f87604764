"""Capacity mode: wrk (with session.lua) measures how much the server can serve."""

from harness.load.capacity.sweep import CapacityPlan, CapacityResult, run_capacity
from harness.load.capacity.wrk import LoadStep

__all__ = ["CapacityPlan", "CapacityResult", "LoadStep", "run_capacity"]
