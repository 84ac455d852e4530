"""The reminders in the admin: each clinic's policy, rules and templates, and the outbox."""

from django.contrib import admin

from clinic.admin_scope import ScopedAdmin

from .models import Reminder, ReminderPolicy, ReminderRule, ReminderTemplate
from .selectors import reminders_for_session


@admin.register(Reminder)
class ReminderAdmin(ScopedAdmin):
    """The outbox, read-only: what was planned, sent, skipped (and why) or failed."""

    list_display = [
        "id", "due_local", "session", "kind", "channel", "status", "skip_reason", "attempts",
        "delivery_status", "last_error",
    ]  # fmt: skip
    list_filter = ["status", "kind", "channel", "skip_reason", "clinic"]
    date_hierarchy = "due_at"
    list_select_related = ["session", "clinic"]
    search_fields = ["=session__id", "=provider_message_id"]

    @admin.display(description="Due (clinic time)", ordering="due_at")
    def due_local(self, obj):
        return f"{obj.due_at.astimezone(obj.clinic.tz):%a %d %b %Y %H:%M}"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReminderPolicy)
class ReminderPolicyAdmin(ScopedAdmin):
    list_display = ["clinic", "sender_name", "quiet_start", "quiet_end", "maintenance_notice_days"]


@admin.register(ReminderRule)
class ReminderRuleAdmin(ScopedAdmin):
    list_display = [
        "clinic", "kind", "is_active", "lead_minutes", "latest_minutes", "by_email", "by_sms",
    ]  # fmt: skip
    list_filter = ["clinic", "kind"]


@admin.register(ReminderTemplate)
class ReminderTemplateAdmin(ScopedAdmin):
    list_display = ["clinic", "kind", "channel", "subject"]
    list_filter = ["clinic", "kind", "channel"]


def session_reminders(obj):
    """The session's reminders as a read-only table (not an inline: no formset to post)."""
    from django.utils.html import format_html, format_html_join

    rows = reminders_for_session(session=obj)
    tz = obj.clinic.tz
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                r.get_kind_display(),
                r.get_channel_display(),
                r.get_status_display(),
                r.get_skip_reason_display() if r.skip_reason else "",
                f"{r.due_at.astimezone(tz):%a %d %b %H:%M}",
                f"{r.sent_at.astimezone(tz):%a %d %b %H:%M}" if r.sent_at else "",
                r.delivery_status or r.last_error,
            )
            for r in rows
        ),
    )
    return format_html(
        "<table><tr><th>kind</th><th>channel</th><th>status</th><th>why skipped</th>"
        "<th>due (clinic time)</th><th>sent</th><th>delivery / error</th></tr>{}</table>",
        body,
    )
