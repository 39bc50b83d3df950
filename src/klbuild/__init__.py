"""klbuild: Order Journeys, written as TOML files, built into static pages for any CDN.

``Builder`` builds a journeys folder into a site, again and again (the dev server's
rebuilds); ``klbuild.build.build`` is the one-shot form ``klbuild build`` runs. The
dev server is ``klbuild.serve``.
"""

from .build import Builder, BuildError, BuildReport

__all__ = ["BuildError", "BuildReport", "Builder"]
