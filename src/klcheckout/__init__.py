"""klcheckout: the checkout backend behind a journey's static pages.

``create_app`` builds the Flask app from ``KEYLIGHT_*`` settings; ``mount`` serves
it under the site's api_url path; ``use_shop`` hands it a rebuilt shop;
``Worker`` runs the backend's helper in a thread: hook deliveries, subscriptions
whose time has come, old checkouts (``klcheckout worker`` runs the same loop as a
process).
"""

from .app import create_app, mount, use_shop
from .settings import SettingsError
from .worker import Worker

__all__ = ["SettingsError", "Worker", "create_app", "mount", "use_shop"]
