"""The hooks booking offers the rooms built on it. Booking imports neither the chart nor
the reminders: they connect here (scheduling.apps), and booking sends.

Both are sent inside the transaction that made the change, so a receiver's writes
commit or roll back with it, and a receiver that raises undoes the whole change."""

from django.dispatch import Signal

# After sessions were booked, moved, cancelled, marked no-show or restored:
# sessions= (the Session rows as they now stand), now=. The reminders re-plan them.
sessions_changed = Signal()

# Before a session's status changes: session= (locked), to= (the new status). A receiver
# refuses with a ValidationError naming "status"; the chart refuses a dosing or
# discharge status that its own record (the dose, the discharge) has not reached.
session_status_changing = Signal()
