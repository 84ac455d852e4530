"""The top navigation: the pages the signed-in user's roles open."""

from django import template

from clinic.api.base import Role, caller

register = template.Library()


@register.inclusion_tag("scheduling/pages/_nav.html", takes_context=True)
def nav_links(context):
    request = context["request"]
    links = []
    if getattr(request.user, "patient", None) is not None:
        links = [("pages:portal", "My sessions"), ("pages:phq9", "PHQ-9")]
    else:
        c = caller(request)
        roles = set().union(*c.roles.values()) if c.roles else set()
        if c.is_superuser:
            roles = set(Role.values)
        if roles:
            links.append(("pages:board", "Day board"))
        if roles & {Role.FRONT_DESK, Role.CLINICIAN, Role.CLINIC_ADMIN, Role.NURSE}:
            links.append(("pages:patients", "Patients"))
        if roles & {Role.FRONT_DESK, Role.CLINICIAN}:
            links.append(("pages:course_new", "New course"))
        if roles & {Role.NURSE, Role.CLINICIAN}:
            links.append(("pages:today", "Today's chairs"))
        if Role.CLINICIAN in roles:
            links.append(("pages:courses", "Courses & alerts"))
    current = request.resolver_match.view_name if request.resolver_match else ""
    return {"links": [(name, label, name == current) for name, label in links]}
