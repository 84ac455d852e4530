"""Issue an API token for a user from the command line, and print it (only the token, so
a script can read it): `manage.py api_token_create <username> --name "CI fuzzing"`."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from clinic.services import api_token_create


class Command(BaseCommand):
    help = "Issue an API token (it expires after API_TOKEN_TTL_DAYS) and print it."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="What the token is for.")

    def handle(self, *args, username, name, **options):
        User = get_user_model()
        try:
            user = User.objects.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        _, token = api_token_create(user=user, name=name)
        self.stdout.write(token)
