"""A patient's upcoming sessions as an iCalendar feed (RFC 5545), built with `icalendar`.

Times are UTC (`...Z`), which every calendar shows in the phone's own zone. Like the
reminders, the words name the clinic and the preparation, never the drug or the
diagnosis: the feed is read by whatever the patient's calendar syncs to. Every text
field (summary, location, description) goes through `discreet`, as the reminders do,
and the clinic's name is the one its reminders use (`clinic_name_for_patients`).
"""

import datetime as dt

from icalendar import Calendar, Event

from .booking.discreet import discreet
from .reminder_content import clinic_address_lines, clinic_name_for_patients, preparation_lines


def calendar_feed(*, sessions, now: dt.datetime, site: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Infusion tracker//Patient sessions//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "My clinic sessions")
    for s in sessions:
        clinic = s.clinic
        event = Event()
        event.add("uid", f"session-{s.pk}@{site}")
        event.add("dtstamp", now.astimezone(dt.UTC))
        event.add("dtstart", s.starts_at.astimezone(dt.UTC))
        event.add("dtend", s.ends_at.astimezone(dt.UTC))
        name = clinic_name_for_patients(clinic)
        event.add("summary", f"Appointment at {name}" if name else "Clinic appointment")
        address = clinic_address_lines(clinic)
        if address:
            event.add("location", ", ".join(address))
        lines = ["Before you come:", *preparation_lines(s.course.protocol)]
        event.add("description", discreet("\n".join(lines)))
        event.add("status", "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()
