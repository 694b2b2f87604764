"""The system under test, one module per component."""

from harness.cluster.lab.cluster import LabCluster, LabSpec
from harness.cluster.lab.lab import Lab, LabState
from harness.cluster.lab.processes import LabError
from harness.cluster.lab.topology import Topology

__all__ = ["Lab", "LabCluster", "LabError", "LabSpec", "LabState", "Topology"]
