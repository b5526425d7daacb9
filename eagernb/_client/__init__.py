"""The client side of remote execution: the httpx ``Remote`` and the hybrid engine."""
