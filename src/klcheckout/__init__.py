"""klcheckout: the checkout backend behind a journey's static pages.

``create_app`` builds the Flask app from ``KEYLIGHT_*`` settings; ``mount`` serves
it under the site's api_url path; ``use_shop`` hands it a rebuilt shop;
``EventWorker`` delivers hook events from a thread (``klcheckout worker`` runs the
same loop as a process).
"""

from .app import create_app, mount, use_shop
from .hooks.outbox import Worker as EventWorker
from .settings import SettingsError

__all__ = ["EventWorker", "SettingsError", "create_app", "mount", "use_shop"]
