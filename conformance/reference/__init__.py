"""A model-driven reference SMTP server with a catalogue of injected faults."""

from conformance.reference.faults import FAULTS, Fault
from conformance.reference.server import Policy, ReferenceServer

__all__ = ["FAULTS", "Fault", "Policy", "ReferenceServer"]
