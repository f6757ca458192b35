"""The routing policy: JSON Schema, typed models, the one loader and its validation."""

from salesops_dagster.policy.loader import LoadedPolicy, PolicyError, known_ids, load_policy
from salesops_dagster.policy.models import RoutingPolicy
from salesops_dagster.policy.validate import Problem, validate_document

__all__ = [
    "LoadedPolicy",
    "PolicyError",
    "Problem",
    "RoutingPolicy",
    "known_ids",
    "load_policy",
    "validate_document",
]
