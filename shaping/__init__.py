"""Potential-based reward shaping: wrappers and potentials."""
