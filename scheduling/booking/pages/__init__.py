"""Booking's web pages (the front desk's patients, screenings, courses and sessions),
and what every room's pages share: `access` (what the caller may see) and the form
widgets in `forms`. The chart's and the reminders' pages are in their own rooms.

Thin views: parse with a form, check the caller's role at the object's clinic, call a
service or selector, render. Roles come from StaffMembership (per clinic) and
Patient.user, as in the API: another clinic's or patient's object is a 404.
"""
