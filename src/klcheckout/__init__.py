"""klcheckout: the checkout backend behind a journey's static pages.

``create_app`` builds the Flask app from ``KEYLIGHT_*`` settings; ``mount`` serves
it under the site's api_url path; ``use_shop`` hands it a rebuilt shop;
``Worker`` runs the backend's helper in a thread: hook deliveries, subscriptions
whose time has come, old checkouts (``klcheckout worker`` runs the same loop as a
process); ``funnel_report`` tells how a journey performs (visitors per step, where
they leave, orders, time to complete), as ``klcheckout report funnel`` prints it.
"""

from .app import create_app, mount, use_shop
from .funnel import Funnel, FunnelStep, UnknownJourney, funnel_report
from .settings import SettingsError
from .worker import Worker

__all__ = [
    "Funnel",
    "FunnelStep",
    "SettingsError",
    "UnknownJourney",
    "Worker",
    "create_app",
    "funnel_report",
    "mount",
    "use_shop",
]
