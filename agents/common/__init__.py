"""Machinery shared by the rlsuite agents (policies, buffers, logger, callbacks, save/load)."""
