from django.db import migrations, models

HELP = (
    "Staff pass a second factor (an authenticator app's code or a recovery code) after "
    "their password before any page, the admin or an API token."
)


class Migration(migrations.Migration):
    """Clinics that exist keep password-only sign-in until their admin turns the second
    factor on (their staff would otherwise meet the enrolment step unannounced); a clinic
    created from now on requires it."""

    dependencies = [
        ("clinic", "0009_crisis_line"),
    ]

    operations = [
        migrations.AddField(
            model_name="clinic",
            name="staff_two_factor_required",
            field=models.BooleanField(
                default=False, help_text=HELP, verbose_name="staff sign in with a second factor"
            ),
        ),
        migrations.AlterField(
            model_name="clinic",
            name="staff_two_factor_required",
            field=models.BooleanField(
                default=True, help_text=HELP, verbose_name="staff sign in with a second factor"
            ),
        ),
    ]
