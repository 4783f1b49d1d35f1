"""Every ``--json`` row and every human rendering of the CLI, by subject.

Commands build results through the pipeline and hand them here: ``*_row`` / ``*_result``
functions make the JSON (keys pinned by tests), ``render_*`` functions print to a rich console.
Nothing here runs a stage.
"""
