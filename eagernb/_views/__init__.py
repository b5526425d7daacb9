"""Views over run records shared by the notebook widget, the HTML report and the web page.

Pure functions from a :class:`~eagernb._core.run.RunTree` to HTML (and back from the
control plane's JSON to events); nothing here touches widgets, kernels or the network,
and only ``report`` writes files (a run's saved report, for the notebook and the CLI).
"""
