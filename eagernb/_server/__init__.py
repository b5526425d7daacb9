"""The control plane: HTTP API, SQLite store, blob store, dispatcher and worker processes.

Importing this package loads nothing heavy; ``app`` and ``main`` need the ``server`` extra
(``pip install 'eagernb[server]'``). The server stores code and values as bytes and never
unpickles them: only ``worker`` (which runs in worker processes) loads payloads.
"""
