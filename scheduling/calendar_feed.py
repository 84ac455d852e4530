"""A patient's upcoming sessions as an iCalendar feed (RFC 5545), built with `icalendar`.

Times are UTC (`...Z`), which every calendar shows in the phone's own zone. Like the
reminders, the words name the clinic and the preparation, never the drug or the
diagnosis: the feed is read by whatever the patient's calendar syncs to.
"""

import datetime as dt

from icalendar import Calendar, Event

from .models.reminders import forbidden_words_in
from .reminder_content import preparation_lines


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
        summary = f"Appointment at {clinic.name}"
        if forbidden_words_in(summary):  # "... Ketamine Clinic": the name must not say it
            summary = "Clinic appointment"
        event.add("summary", summary)
        if clinic.address:
            event.add("location", ", ".join(clinic.address.splitlines()))
        description = "\n".join(["Before you come:", *preparation_lines(s.course.protocol)])
        if forbidden_words_in(description):  # a clinic's own protocol wording, say
            description = "Please see the preparation the clinic sent you."
        event.add("description", description)
        event.add("status", "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()
