from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Accounts and firms")

    def ready(self):
        from portal import authentication, roles

        post_migrate.connect(roles.roles_sync, dispatch_uid="portal.roles_sync")
        authentication.connect()
