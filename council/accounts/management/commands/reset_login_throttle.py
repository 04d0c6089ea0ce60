"""`manage.py reset_login_throttle [--user NAME] [--address IP]`: lift a log-in wait by hand."""

from django.core.management.base import BaseCommand, CommandError

from council.accounts import throttle


class Command(BaseCommand):
    help = "Clear the failed log-ins counted for an account name and/or an address."

    def add_arguments(self, parser):
        parser.add_argument("--user", help="the account name typed at log-in")
        parser.add_argument("--address", help="the client address (REMOTE_ADDR)")

    def handle(self, *args, user=None, address=None, **options):
        if user is None and address is None:
            raise CommandError("Name an account (--user) or an address (--address), or both.")
        throttle.reset(username=user, address=address)
        self.stdout.write(f"Cleared failed log-ins for {' and '.join(filter(None, [user, address]))}.")
