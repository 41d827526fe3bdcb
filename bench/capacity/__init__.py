"""Capacity planning: a sweep over sizes, growth fits, held-out validation, projections."""
