"""Execution engines: each implements ``eagernb._core.engine.Engine``."""
