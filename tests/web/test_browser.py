"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright.

Each test starts from data made through the services, drives the pages as the person
would (login form, clicks, typing) and asserts what they see; the final page is saved
to test-artifacts/screenshots/<test name>.png. The live server runs in a thread of this
process, so "now" is the real clock: the clinic's time zone is chosen so that it is late
morning there whenever the suite runs, and sessions are booked near now.
"""

import base64
import datetime as dt
import os
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from clinic.models import Chair, Clinic, OpeningHours
from clinic.services import staff_membership_add
from patients.models import Patient
from scheduling.booking.models import Protocol, Session
from scheduling.booking.services import course_start

from ..conftest import chart_check_in, chart_dose, make_screening

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "browser-pass-2026"
DESKTOP = {"width": 1366, "height": 900}
TABLET = {"width": 1180, "height": 820}
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM refuses to be
    # called from one unless told it is safe (it is: nothing here is async).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield b
            b.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def open_page(browser, live_server, request):
    """A fresh browser context per person; the last page is screenshotted at the end."""
    pages = []

    refused = []  # what the Content-Security-Policy blocked, on any page

    def _open(viewport=DESKTOP):
        context = browser.new_context(viewport=viewport, base_url=live_server.url)
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.on(
            "console",
            lambda msg: (
                refused.append(f"{msg.text} at {msg.location}")
                if "Content Security Policy" in msg.text
                else None
            ),
        )
        pages.append(page)
        return page

    yield _open
    assert refused == []
    if pages:
        SHOTS.mkdir(parents=True, exist_ok=True)
        pages[-1].screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    for page in pages:
        page.context.close()


def _late_morning_zone() -> str:
    """A fixed-offset zone where it is about 11:00 now (Etc/GMT-N is UTC+N)."""
    offset = (11 - timezone.now().hour + 12) % 24 - 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


@pytest.fixture
def world():
    clinic = Clinic.objects.create(
        name="Harbour Clinic",
        slug="harbour-b",
        timezone=_late_morning_zone(),
        staff_two_factor_required=False,  # the two-factor test turns it on
    )
    for weekday in range(7):
        OpeningHours.objects.create(
            clinic=clinic, weekday=weekday, opens=dt.time(7), closes=dt.time(20)
        )
    for n in (1, 2, 3):
        Chair.objects.create(clinic=clinic, name=f"Chair {n}")
    User = get_user_model()
    users = {}
    for username, role in (("desk", "front_desk"), ("nurse", "nurse"), ("doc", "clinician")):
        users[role] = User.objects.create_user(username=username, password=PASSWORD)
        staff_membership_add(user=users[role], clinic=clinic, role=role)
    patient = Patient.objects.create(
        clinic=clinic, mrn="B-1", first_name="Robin", last_name="Quayle",
        birth_date=dt.date(1984, 3, 2), escort_name="Sam Quayle", weight_kg=80,
    )  # fmt: skip
    make_screening(patient, now=timezone.now() - dt.timedelta(days=1))
    return {"clinic": clinic, "users": users, "patient": patient}


def _iv() -> Protocol:
    return Protocol.objects.get(clinic=None, code="iv-standard")


def login(page, username):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()


def test_front_desk_books_a_standard_iv_course_and_sees_it_on_the_day_board(world, open_page):
    clinic = world["clinic"]
    start = clinic.local_today() + dt.timedelta(days=7)
    page = open_page()
    login(page, "desk")
    page.get_by_role("link", name="New course").click()
    page.select_option("#id_patient", label=str(world["patient"]))
    page.select_option("#id_protocol", label=_iv().name)
    page.fill("#id_start_date", start.isoformat())
    page.check(f"input[name=preferred_weekdays][value='{start.weekday()}']")
    page.fill("#id_preferred_time", "10:00")
    page.get_by_role("button", name="Preview sessions").click()
    preview = page.locator("#preview")
    preview.get_by_text(re.compile(r"\d+ sessions will be booked")).wait_for()
    assert preview.get_by_text(f"{start:%a} {start.day} {start:%b %Y}").count() >= 1
    preview.get_by_role("button", name=re.compile("Confirm and book")).click()
    page.wait_for_url(re.compile(rf"date={start.isoformat()}"))
    first = Session.objects.filter(patient=world["patient"]).order_by("starts_at").first()
    slot = page.locator(f'a.slot[data-session="{first.id}"]')
    assert "Quayle, Robin" in slot.inner_text()
    assert slot.get_attribute("data-chair") == first.chair.name
    # the slot sits in its chair's row of the grid
    row = page.locator(".board .chair", has_text=first.chair.name).evaluate(
        "el => getComputedStyle(el).gridRowStart"
    )
    assert slot.evaluate("el => getComputedStyle(el).gridRowStart") == row
    assert page.get_by_role("heading", name=re.compile(f"{start:%A} {start.day}")).count() == 1


def _session_near_now(world, protocol=None) -> Session:
    """Session 1 of a course (IV standard unless told) starting today at the next quarter
    hour, clinic time."""
    clinic = world["clinic"]
    local = timezone.now().astimezone(clinic.tz) + dt.timedelta(minutes=15)
    at = local.replace(minute=local.minute // 15 * 15, second=0, microsecond=0).time()
    today = clinic.local_today().weekday()
    course = course_start(
        patient=world["patient"], protocol=protocol or _iv(), start_date=clinic.local_today(),
        preferred_weekdays=sorted({today, (today + 3) % 7}), preferred_time=at,
        by=world["users"]["front_desk"],
    )  # fmt: skip
    return course.sessions.order_by("starts_at").first()


def test_a_nurse_checks_in_doses_records_vitals_and_sees_the_alert_at_once(world, open_page):
    session = _session_near_now(world)
    page = open_page(TABLET)
    login(page, "nurse")
    page.get_by_role("link", name=re.compile("Quayle, Robin")).click()
    page.get_by_label("Fasting as instructed").check()
    page.get_by_label("Escort home confirmed").check()
    page.get_by_label("Weight (kg)").fill("80")
    page.get_by_role("button", name="Check in").click()
    page.get_by_text("Checked in", exact=False).first.wait_for()

    def record_vitals(systolic):
        line = page.locator("#chart-body form", has=page.locator("#id_systolic"))
        line.locator("#id_systolic").fill(str(systolic))
        page.keyboard.press("Tab")  # the line's tab order: systolic, diastolic, HR, SpO2...
        page.keyboard.type("80")
        page.keyboard.press("Tab")
        page.keyboard.type("72")
        page.keyboard.press("Tab")
        page.keyboard.type("98")
        line.get_by_role("button", name="Record").click()

    assert page.locator("#id_timepoint").input_value() == "pre_dose"  # next due, preselected
    record_vitals(124)
    page.locator("#vitals-table").get_by_text("124/80").wait_for()
    assert "40.0 mg" in page.locator("#dose-preview").inner_text()  # 0.5 mg/kg x 80 kg
    page.get_by_role("button", name="Record dose and start").click()
    page.get_by_role("button", name="Dose finished: start monitoring").wait_for()
    assert "40.0 mg (0.50 mg/kg × 80.0 kg" in page.locator("#chart-body").inner_text()
    url_before = page.url
    record_vitals(190)
    alert = page.get_by_role("alert").filter(has_text="Systolic 190 mmHg is at or above 180.")
    alert.wait_for()
    assert page.url == url_before  # no page load: htmx swapped the chart in place
    assert page.locator("#vitals-table td.past", has_text="190/80").count() == 1
    assert page.locator("canvas[data-chart=vitals]").evaluate("c => c.width") > 0
    assert Session.objects.get(pk=session.pk).status == Session.Status.IN_PROGRESS


def test_discharge_is_refused_before_the_minimum_observation(world, open_page):
    session = _session_near_now(world)
    nurse, now = world["users"]["nurse"], timezone.now()
    chart_check_in(session, nurse=nurse, now=now)
    chart_dose(session, nurse=nurse, now=now)
    page = open_page(TABLET)
    login(page, "nurse")
    page.goto(f"/chart/{session.id}/")
    page.get_by_role("button", name="Dose finished: start monitoring").click()
    page.locator("#session-status", has_text="Monitoring").wait_for()
    page.get_by_role("button", name="Discharge").click()
    refused = page.locator("#discharge-refused")
    refused.wait_for()
    assert "Discharge refused" in refused.inner_text()
    assert "The minimum observation is 60 minutes from the end of the infusion" in (
        refused.inner_text()
    )
    assert Session.objects.get(pk=session.pk).status == Session.Status.MONITORING


def test_a_nurse_refused_at_discharge_is_shown_what_is_missing_and_resolves_it_on_a_phone(
    world, open_page
):
    from scheduling.chart.services import side_effect_record

    session = _session_near_now(world)
    nurse, now = world["users"]["nurse"], timezone.now()
    chart_check_in(session, nurse=nurse, now=now)
    chart_dose(session, nurse=nurse, now=now)
    side_effect_record(
        session=session, by=nurse, kind="sedation", severity="moderate", moaa_s=3, now=now
    )
    page = open_page(PHONE)
    login(page, "nurse")
    page.goto(f"/chart/{session.id}/")
    page.get_by_role("button", name="Dose finished: start monitoring").click()
    page.locator("#session-status", has_text="Monitoring").wait_for()
    page.get_by_role("button", name="Discharge").click()
    refused = page.locator("#discharge-refused")
    refused.wait_for()
    text = refused.inner_text()
    assert "is not resolved." in text and "Record when it resolved." in text
    assert "The last MOAA/S is 3" in text and "discharge waits for 5" in text
    missing = page.locator("ul.criteria li.missing")
    assert missing.filter(has_text="Sedation, dissociation and respiratory depression").count()
    assert missing.filter(has_text="MOAA/S 5 (fully alert)").count() == 1
    assert "Mark it resolved under Side effects" in text  # what unblocks it, and where
    assert _wider_than(page, PHONE["width"]) == []

    page.get_by_label("MOAA/S now (0-5)").fill("5")
    page.get_by_role("button", name="Resolved").click()
    page.locator("ul.criteria li.met", has_text="MOAA/S 5 (fully alert)").wait_for()
    assert page.locator("ul.criteria li.met", has_text="respiratory depression").count() == 1
    assert Session.objects.get(pk=session.pk).status == Session.Status.MONITORING


def test_a_nurse_refused_at_esketamine_discharge_reads_on_a_phone_what_is_missing(world, open_page):
    clinic = world["clinic"]
    clinic.rems_applies = False  # a clinic outside the US: the patient needs no enrolment
    clinic.save(update_fields=["rems_applies"])
    session = _session_near_now(world, Protocol.objects.get(clinic=None, code="esketamine-trd"))
    nurse, now = world["users"]["nurse"], timezone.now()
    chart_check_in(session, nurse=nurse, now=now)
    chart_dose(session, nurse=nurse, now=now)
    page = open_page(PHONE)
    login(page, "nurse")
    page.goto(f"/chart/{session.id}/")
    page.get_by_role("button", name="Dose finished: start monitoring").click()
    page.locator("#session-status", has_text="Monitoring").wait_for()
    page.get_by_role("button", name="Discharge").click()
    refused = page.locator("#discharge-refused")
    refused.wait_for()
    text = " ".join(refused.inner_text().split())
    assert "Record the pre-discharge blood pressure (the REMS form asks for it)." in text
    assert "A clinician must record the time the patient was ready to leave." in text
    assert "The minimum observation is 120 minutes from the first device" in text
    assert refused.get_by_role("link", name=re.compile("^Record the reading under Vitals")).count()
    assert refused.get_by_role("link", name=re.compile("ready to leave")).count() == 0
    # Readable at the chair: nothing wider than the phone, the box inside the screen.
    assert _wider_than(page, PHONE["width"]) == []
    box = refused.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    refused.screenshot(path=str(_shot("esketamine_discharge_refused_phone")))

    # The nurse records the missing reading; the refusal then names only the clinician's part.
    page.select_option("#id_timepoint", "pre_discharge")
    for field, value in (("systolic", 128), ("diastolic", 80), ("heart_rate", 70), ("spo2", 98)):
        page.fill(f"#id_{field}", str(value))
    page.get_by_role("button", name="Record", exact=True).click()
    page.locator("#vitals-table").get_by_text("128/80").wait_for()
    page.get_by_role("button", name="Discharge").click()
    refused.wait_for()
    text = " ".join(refused.inner_text().split())
    assert "pre-discharge blood pressure" not in text
    assert "A clinician must record the time the patient was ready to leave." in text
    assert Session.objects.get(pk=session.pk).status == Session.Status.MONITORING


def test_a_patient_confirms_from_the_portal_and_the_front_desk_sees_it(world, open_page):
    patient, clinic = world["patient"], world["clinic"]
    User = get_user_model()
    patient.user = User.objects.create_user(username="robin", password=PASSWORD)
    patient.save(update_fields=["user"])
    start = clinic.local_today() + dt.timedelta(days=3)
    course = course_start(
        patient=patient, protocol=_iv(), start_date=start, preferred_weekdays=[start.weekday()],
        preferred_time=dt.time(11), by=world["users"]["front_desk"],
    )  # fmt: skip
    first = course.sessions.order_by("starts_at").first()
    phone = open_page(PHONE)
    login(phone, "robin")
    card = phone.locator("article.card").first
    assert "11:00" in card.inner_text()
    assert "you must not drive yourself" in card.inner_text()
    card.get_by_role("button", name=re.compile("^Confirm")).click()
    phone.get_by_text("is confirmed").wait_for()
    assert Session.objects.get(pk=first.pk).patient_response == "confirmed"
    phone.screenshot(path=str(_shot("portal_phone_after_confirm")), full_page=True)

    desk = open_page(DESKTOP)
    login(desk, "desk")
    desk.goto(f"/desk/board/?clinic={clinic.id}&date={start.isoformat()}")
    slot = desk.locator(f'a.slot[data-session="{first.id}"]')
    assert "✔ Confirmed" in slot.inner_text()


def _wider_than(page, width: int) -> list[str]:
    """What sticks out past `width` px (a table scrolling in its own box excepted)."""
    return page.evaluate(
        """w => [...document.querySelectorAll("body *")]
            .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest(".table-wrap"))
            .slice(0, 10).map(e => `${e.tagName}#${e.id}.${e.className}`)""",
        width,
    )


def _shot(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"


def _posts(page, part: str) -> list[str]:
    """The POST requests the page sends to a URL containing `part`, as they are sent."""
    sent = []
    page.on(
        "request", lambda r: sent.append(r.url) if r.method == "POST" and part in r.url else None
    )
    return sent


def test_cancelling_a_whole_course_asks_first_and_a_double_click_sends_one_request(
    world, open_page
):
    clinic = world["clinic"]
    start = clinic.local_today() + dt.timedelta(days=7)
    course = course_start(
        patient=world["patient"], protocol=_iv(), start_date=start,
        preferred_weekdays=[start.weekday()], preferred_time=dt.time(10),
        by=world["users"]["front_desk"],
    )  # fmt: skip
    first = course.sessions.order_by("starts_at").first()
    n = course.sessions.filter(status=Session.Status.BOOKED).count()
    page = open_page()
    login(page, "desk")
    page.goto(f"/desk/sessions/{first.id}/")
    cancel = page.locator("section", has=page.locator("#cancel-title"))
    cancel.get_by_label("Scope").select_option(label="The whole course")
    cancel.get_by_label("Reason").fill("Moving away")
    cancel.get_by_role("button", name="Cancel session(s)").click()
    page.get_by_role("heading", name=f"Cancel {n} sessions?").wait_for()
    assert course.sessions.filter(status=Session.Status.BOOKED).count() == n  # asked only
    url = f"/desk/sessions/{first.id}/cancel/"
    sent = _posts(page, url)
    # A person's double click: two real clicks apart, the first request still running
    # (held back here), so without the busy button the second would be sent as well.
    page.route(f"**{url}", lambda route: (page.wait_for_timeout(400), route.continue_()))
    box = page.get_by_role("button", name=f"Yes, cancel {n} sessions").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(150)
    page.mouse.click(x, y)
    page.get_by_text(f"Cancelled {n} sessions:").wait_for()
    assert len(sent) == 1
    assert course.sessions.filter(status=Session.Status.BOOKED).count() == 0


def test_a_double_click_on_an_htmx_button_sends_one_request_and_shows_it_busy(world, open_page):
    session = _session_near_now(world)
    chart_check_in(session, nurse=world["users"]["nurse"], now=timezone.now())
    page = open_page(TABLET)
    login(page, "nurse")
    page.goto(f"/chart/{session.id}/")
    line = page.locator("#chart-body form", has=page.locator("#id_systolic"))
    for field, value in (("systolic", "124"), ("diastolic", "80"), ("heart_rate", "72")):
        line.locator(f"#id_{field}").fill(value)
    line.locator("#id_spo2").fill("98")
    before = session.vitals.count()  # the check-in's pre-dose reading
    sent = _posts(page, f"/chart/{session.id}/vitals/")
    # Hold the answer back so the busy state can be seen while the request runs.
    page.route(
        f"**/chart/{session.id}/vitals/",
        lambda route: (page.wait_for_timeout(300), route.continue_()),
    )
    button = line.get_by_role("button", name="Record")
    button.dblclick()
    assert button.is_disabled()
    page.get_by_text("Vital signs recorded.").wait_for()
    assert len(sent) == 1
    assert session.vitals.count() == before + 1


def test_a_patient_with_thoughts_of_self_harm_is_shown_the_clinics_phone_and_crisis_line(
    world, open_page
):
    patient, clinic = world["patient"], world["clinic"]
    clinic.phone, clinic.crisis_line = "+442071234567", "Samaritans: call 116 123, any time"
    clinic.save()
    patient.user = get_user_model().objects.create_user(username="robin", password=PASSWORD)
    patient.save(update_fields=["user"])
    phone = open_page(PHONE)
    login(phone, "robin")
    phone.get_by_role("link", name="Fill in the PHQ-9 questionnaire").click()
    for i in range(8):
        phone.check(f"input[name=item{i}][value='0']")
    phone.check("input[name=item8][value='1']")  # thoughts of self-harm: several days
    phone.get_by_role("button", name="Send my answers").click()
    help_box = phone.get_by_role("alert").filter(has_text="Please talk to someone today")
    help_box.wait_for()
    assert "+44 20 7123 4567" in help_box.inner_text()
    assert "Samaritans: call 116 123, any time" in help_box.inner_text()
    assert "with your care team for your next visit" not in phone.content()


def test_a_nurse_enrols_an_authenticator_app_and_signs_in_with_it(world, open_page):
    from django_otp.oath import totp

    clinic = world["clinic"]
    clinic.staff_two_factor_required = True
    clinic.save(update_fields=["staff_two_factor_required"])
    page = open_page()
    login(page, "nurse")  # the password, then the enrolment step: no device yet
    page.wait_for_url(re.compile(r"/accounts/two-factor/enrol/"))
    assert page.get_by_role("heading", name="Two-factor sign-in").is_visible()
    assert page.locator(".qr svg").is_visible()
    key = base64.b32decode(page.locator("#totp-secret").inner_text())
    page.fill("#id_code", f"{totp(key):06d}")  # what the app shows now
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    assert page.locator(".recovery-codes li").count() == 10
    page.get_by_role("link", name="I have saved them: continue").click()
    page.wait_for_url(re.compile(r"/nurse/today/$"))
    assert page.get_by_role("heading", name="Today's chairs").is_visible()
    page.get_by_role("button", name="Sign out").click()
    login(page, "nurse")
    page.wait_for_url(re.compile(r"/accounts/two-factor/\?"))
    assert page.get_by_role("heading", name="Enter your sign-in code").is_visible()
    page.fill("#id_code", f"{totp(key, drift=1):06d}")  # the app's next code: one not used
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/nurse/today/$"))
    assert page.get_by_role("heading", name="Today's chairs").is_visible()


def test_an_idle_nurse_is_warned_a_minute_before_the_sign_out_and_can_stay(world, open_page):
    world["clinic"].idle_logoff_minutes = 2
    world["clinic"].save()
    page = open_page()
    page.clock.install()  # the page's timers run on a clock the test moves
    login(page, "nurse")
    warning = page.locator("#idle-warning")
    assert not warning.is_visible()
    page.clock.run_for(61_000)  # a minute in: a minute before the end
    warning.get_by_text("Still there?").wait_for()
    assert "signed out in" in warning.inner_text()
    with page.expect_response("**/accounts/keep-alive/") as kept:
        warning.get_by_role("button", name="Stay signed in").click()
    assert kept.value.status == 204
    warning.wait_for(state="hidden")
    page.clock.run_for(61_000)  # the timer started again from "stay signed in"
    warning.get_by_text("Still there?").wait_for()
