"""The product's web pages: front desk, nurse's chart, clinician, patient portal.

Thin views: parse with a form, check the caller's role at the object's clinic, call a
service or selector, render. Roles come from StaffMembership (per clinic) and
Patient.user, as in the API: another clinic's or patient's object is a 404.
"""
