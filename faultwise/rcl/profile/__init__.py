"""The normal profile: what fault-free behaviour looks like, learned from a fault-free window, and the
pieces it is built from (trace timings, child calls, log templates, code-path rules, the standard units)."""

from faultwise.rcl.profile.calls import child_call_counts, parent_rows
from faultwise.rcl.profile.graph import TraceGraph, add_timings
from faultwise.rcl.profile.log_rules import follow_rules, linked_lines, with_templates
from faultwise.rcl.profile.normal import MIN_PATTERN_SPANS, NormalProfile
from faultwise.rcl.profile.stats import binomial_z, robust_z
from faultwise.rcl.profile.templates import template_of

__all__ = [
    "MIN_PATTERN_SPANS",
    "NormalProfile",
    "TraceGraph",
    "add_timings",
    "binomial_z",
    "child_call_counts",
    "follow_rules",
    "linked_lines",
    "parent_rows",
    "robust_z",
    "template_of",
    "with_templates",
]
