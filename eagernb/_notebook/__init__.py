"""The notebook layer: ``%load_ext eagernb``, the live run widget and the ``%eagernb`` magic."""
