"""The peak hour of a clinic network, in Locust: `make load` and `make load-quick` run it.

Each clinic has one user of each kind below, with its own token or signed-in session
(tests/load/prepare.py), working on its own clinic's data only. The rates are a 16-chair
clinic's busiest hour: four sessions a chair a day over 10 open hours is 6.4 sessions
an hour, and its peak is taken as 8 (check-ins, doses and discharges an hour); vitals
every 10 minutes of a session in the chair; every open screen re-reading what it shows.

Requests an hour, per clinic (the task weights below are these numbers; each user paces
itself with constant_throughput to its total):

    front desk   294   day board page 120 and API 120 (two screens, each polled every
                       30 s, answered 304 when nothing changed), patient search 30,
                       free-slot search 12, booking 6, moving 3, cancelling 3
    nurse        729   today's chairs 30, a chart re-read every 60 s on each of ten
                       open screens 600 (page 300, API 300), check-in 8, dose 8,
                       vitals 72, a side effect 3, discharge 8
    clinician     39   a course's outcomes 10, the open alerts 20, acknowledging one
                       4, ready to leave (esketamine) 4, signing a screening 1
    patient      132   the portal 20, a PHQ-9 4, confirming a reminder link 8, the
                       calendar feed 100 (calendar apps poll about hourly)
    a clinic    1,194  requests an hour: 0.33 a second; 1,000 clinics 332 a second

Pages are asked for as a browser asks (the board's poll with htmx's HX-Request header,
forms with their CSRF token); the rest is the API. Polls send If-None-Match with the
last ETag they saw. A user acts only when what it read allows it (a nurse doses a
checked-in session, discharges one whose chart names no problem), so every 4xx or 5xx
is a failure to look at.
"""

import itertools
import json
import os
import random
import secrets
from pathlib import Path

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

WORLD = json.loads(Path(os.environ.get("LOAD_WORLD", "test-artifacts/load/world.json")).read_text())
CLINICS = WORLD["clinics"]
COOKIE = WORLD["session_cookie"]
# LOAD_SPEED > 1 runs the same mix faster (the suite's smoke run of this file uses it).
HOUR = 3600.0 / float(os.environ.get("LOAD_SPEED", "1"))
IN_CHAIR = ("in_progress", "monitoring")
NORMAL = {"systolic": 124, "diastolic": 78, "heart_rate": 72, "spo2": 98, "respiratory_rate": 14}
LAST_NAMES = ["Smith", "Jones", "Garcia", "Nguyen", "Okafor", "Silva", "Kowalski", "Ahmed"]

# What the users of one clinic know of it, shared between them as colleagues would:
# the sessions of the day by status, the front desk's own bookings, open alerts.
_state: dict[int, dict] = {}


def clinic_state(clinic: dict) -> dict:
    if clinic["id"] not in _state:
        _state[clinic["id"]] = {
            "sessions": {s["id"]: dict(s) for s in clinic["charting"]},
            "booked": [],
            "alerts": [],
            "signed": False,
        }
    return _state[clinic["id"]]


class ClinicUser(FastHttpUser):
    abstract = True
    role = ""
    per_hour: dict[str, int] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._next = itertools.count()
        if cls.per_hour:
            cls.wait_time = constant_throughput(sum(cls.per_hour.values()) / HOUR)

    def on_start(self):
        self.clinic = CLINICS[next(self._next) % len(CLINICS)]
        self.state = clinic_state(self.clinic)
        self.etags: dict[str, str] = {}
        self.csrf = secrets.token_hex(16)  # a browser's CSRF cookie, sent back as the token
        self.login(self.clinic)

    def login(self, clinic):
        who = clinic["staff"][self.role]
        self.api_headers = {"Authorization": f"Token {who['token']}"}
        self.page_headers = {"Cookie": f"{COOKIE}={who['session']}; csrftoken={self.csrf}"}

    # --- requests ---------------------------------------------------------------------

    def poll(self, url: str, name: str, headers: dict) -> dict | None:
        """A GET that sends the last ETag seen; the JSON body when it came back (200)."""
        sent = dict(headers)
        if url in self.etags:
            sent["If-None-Match"] = self.etags[url]
        with self.client.get(url, headers=sent, name=name, catch_response=True) as r:
            if r.status_code == 304:
                r.success()
                return None
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text[:200]}")
                return None
            if r.headers.get("ETag"):
                self.etags[url] = r.headers["ETag"]
            if "json" in (r.headers.get("Content-Type") or ""):
                return r.json()
            return None

    def api_post(self, url: str, name: str, body: dict) -> dict | None:
        with self.client.post(url, json=body, headers=self.api_headers, name=name,
                              catch_response=True) as r:  # fmt: skip
            if r.status_code not in (200, 201):
                r.failure(f"{r.status_code}: {r.text[:300]}")
                return None
            return r.json()

    def page_post(self, url: str, name: str, data: dict, headers: dict) -> bool:
        sent = {**headers, "X-CSRFToken": self.csrf}
        with self.client.post(url, data=data, headers=sent, name=name, allow_redirects=False,
                              catch_response=True) as r:  # fmt: skip
            if r.status_code not in (200, 302, 303):
                r.failure(f"{r.status_code}: {r.text[:300]}")
                return False
            return True

    def sessions(self, *statuses: str) -> list[dict]:
        return [s for s in self.state["sessions"].values() if s["status"] in statuses]


class FrontDesk(ClinicUser):
    role = "front_desk"
    per_hour = {"board_page": 120, "board_api": 120, "patient_search": 30, "free_slots": 12,
                "book": 6, "move": 3, "cancel": 3}  # fmt: skip

    def board_url(self, api: bool) -> str:
        query = f"clinic={self.clinic['id']}&date={self.clinic['day']}"
        return f"/api/v1/day-board/?{query}" if api else f"/desk/board/?{query}"

    @task(per_hour["board_page"])
    def board_page(self):
        self.poll(self.board_url(api=False), "page: day board (htmx poll)",
                  {**self.page_headers, "HX-Request": "true"})  # fmt: skip

    @task(per_hour["board_api"])
    def board_api(self):
        self.poll(self.board_url(api=True), "api: day board", self.api_headers)

    @task(per_hour["patient_search"])
    def patient_search(self):
        name = random.choice(LAST_NAMES)[:3]
        self.client.get(f"/api/v1/patients/?clinic={self.clinic['id']}&name={name}",
                        headers=self.api_headers, name="api: patient search")  # fmt: skip

    def slots(self, course: int) -> list[dict]:
        r = self.client.get(f"/api/v1/courses/{course}/slots/?days=14&limit=5",
                            headers=self.api_headers, name="api: free slots")  # fmt: skip
        return r.json() if r.status_code == 200 else []

    @task(per_hour["free_slots"])
    def free_slots(self):
        self.slots(random.choice(self.clinic["courses"]))

    @task(per_hour["book"])
    def book(self):
        course = random.choice(self.clinic["courses"])
        found = self.slots(course)
        if found:
            slot = random.choice(found)
            body = {"starts_at": slot["starts_at"], "chair": slot["chair"], "note": "load"}
            made = self.api_post(f"/api/v1/courses/{course}/book/", "api: book a session", body)
            if made:
                self.state["booked"].append((made["id"], course))

    @task(per_hour["move"])
    def move(self):
        if self.state["booked"]:
            session, course = random.choice(self.state["booked"])
            found = self.slots(course)
            if found:
                body = {"starts_at": random.choice(found)["starts_at"], "note": "load"}
                self.api_post(f"/api/v1/sessions/{session}/move/", "api: move a session", body)

    @task(per_hour["cancel"])
    def cancel(self):
        if self.state["booked"]:
            session, _ = self.state["booked"].pop(random.randrange(len(self.state["booked"])))
            body = {"reason": "The patient asked to cancel."}
            self.api_post(f"/api/v1/sessions/{session}/cancel/", "api: cancel a session", body)


class Nurse(ClinicUser):
    role = "nurse"
    per_hour = {"today": 30, "chart_page": 300, "chart_api": 300, "check_in": 8, "dose": 8,
                "vitals": 72, "side_effect": 3, "discharge": 8}  # fmt: skip

    def open_session(self) -> dict | None:
        open_ = self.sessions("booked", "checked_in", *IN_CHAIR)
        return random.choice(open_) if open_ else None

    def chart(self, session: dict) -> dict | None:
        return self.poll(f"/api/v1/sessions/{session['id']}/chart/", "api: chart",
                         self.api_headers)  # fmt: skip

    @task(per_hour["today"])
    def today(self):
        self.client.get("/nurse/today/", headers=self.page_headers, name="page: today's chairs")

    @task(per_hour["chart_page"])
    def chart_page(self):
        if s := self.open_session():
            self.poll(f"/chart/{s['id']}/", "page: chart", self.page_headers)

    @task(per_hour["chart_api"])
    def chart_api(self):
        if s := self.open_session():
            self.chart(s)

    @task(per_hour["check_in"])
    def check_in(self):
        booked = self.sessions("booked")
        if booked:
            s = random.choice(booked)
            s["status"] = "checking_in"  # no colleague takes it meanwhile
            body = {"fasting_confirmed": True, "escort_confirmed": True, "escort_name": "Escort",
                    "weight_kg": s["weight_kg"], "pre_dose_vitals": NORMAL,
                    "phq9_items": [1, 1, 0, 1, 0, 0, 1, 0, 0]}  # fmt: skip
            ok = self.api_post(f"/api/v1/sessions/{s['id']}/check-in/", "api: check in", body)
            s["status"] = "checked_in" if ok else "failed"

    @task(per_hour["dose"])
    def dose(self):
        ready = self.sessions("checked_in")
        if ready:
            s = random.choice(ready)
            s["status"] = "dosing"
            if s["route"] == "iv":
                body = {"mg_per_kg": "0.50", "infusion_minutes": 40, "lot_number": "LOAD1"}
            else:
                body = {"dose_mg": 56, "lot_number": "LOAD1"}
            ok = self.api_post(f"/api/v1/sessions/{s['id']}/dose/", "api: dose", body)
            s["status"] = "in_progress" if ok else "failed"

    @task(per_hour["vitals"])
    def vitals(self):
        in_chair = self.sessions(*IN_CHAIR)
        if in_chair:
            s = random.choice(in_chair)
            body = {**NORMAL, "session": s["id"], "timepoint": "after"}  # measured now
            self.api_post("/api/v1/vitals/", "api: vitals", body)

    @task(per_hour["side_effect"])
    def side_effect(self):
        in_chair = self.sessions(*IN_CHAIR)
        if in_chair:
            s = random.choice(in_chair)
            body = {"session": s["id"], "kind": "nausea", "severity": "mild",
                    "notes": "Settled with rest."}  # fmt: skip
            self.api_post("/api/v1/side-effects/", "api: side effect", body)

    @task(per_hour["discharge"])
    def discharge(self):
        in_chair = self.sessions(*IN_CHAIR)
        if in_chair:
            s = random.choice(in_chair)
            self.etags.pop(f"/api/v1/sessions/{s['id']}/chart/", None)  # read it afresh
            chart = self.chart(s)
            if chart is not None and not chart["discharge_problems"]:
                body = {"escort_name": "Escort", "notes": ""}
                if self.api_post(f"/api/v1/sessions/{s['id']}/discharge/", "api: discharge",
                                 body):  # fmt: skip
                    s["status"] = "discharged"


class Clinician(ClinicUser):
    role = "clinician"
    per_hour = {"outcomes": 10, "alerts": 20, "acknowledge": 4, "ready_to_leave": 4,
                "sign_screening": 1}  # fmt: skip

    @task(per_hour["outcomes"])
    def outcomes(self):
        course = random.choice(self.clinic["courses"])
        self.client.get(f"/clinician/courses/{course}/", headers=self.page_headers,
                        name="page: a course's outcomes")  # fmt: skip

    @task(per_hour["alerts"])
    def alerts(self):
        r = self.client.get("/api/v1/alerts/?open=true&page_size=20", headers=self.api_headers,
                            name="api: open alerts")  # fmt: skip
        if r.status_code == 200:
            self.state["alerts"] = [a["id"] for a in r.json()["results"]]

    @task(per_hour["acknowledge"])
    def acknowledge(self):
        if self.state["alerts"]:
            alert = self.state["alerts"].pop()
            body = {"note": "Seen; rechecked at the chair."}
            self.api_post(f"/api/v1/alerts/{alert}/acknowledge/", "api: acknowledge an alert",
                          body)  # fmt: skip

    @task(per_hour["ready_to_leave"])
    def ready_to_leave(self):
        waiting = [s for s in self.sessions(*IN_CHAIR) if s["drug"] == "esketamine"]
        if waiting:
            s = random.choice(waiting)
            chart = self.poll(f"/api/v1/sessions/{s['id']}/chart/", "api: chart", self.api_headers)
            if chart is not None and _only_ready_to_leave_missing(chart["discharge_problems"]):
                self.api_post(f"/api/v1/sessions/{s['id']}/ready-to-leave/",
                              "api: ready to leave", {"note": "Alert and oriented."})  # fmt: skip

    @task(per_hour["sign_screening"])
    def sign_screening(self):
        sign = self.clinic["sign_off"]
        if sign and not self.state["signed"]:
            self.state["signed"] = True
            body = {"answer": sign["answer"], "reason": "Reviewed with the patient; monitored."}
            self.api_post(f"/api/v1/screenings/{sign['screening']}/sign-off/",
                          "api: sign off a screening", body)  # fmt: skip


def _only_ready_to_leave_missing(problems: list[str]) -> bool:
    return len(problems) == 1 and "ready to leave" in problems[0].lower()


class Patient(ClinicUser):
    per_hour = {"portal": 20, "phq9": 4, "reminder": 8, "calendar": 100}

    def login(self, clinic):
        self.me = random.choice(clinic["patients"])
        self.page_headers = {"Cookie": f"{COOKIE}={self.me['session']}; csrftoken={self.csrf}"}

    @task(per_hour["portal"])
    def portal(self):
        self.client.get("/portal/", headers=self.page_headers, name="page: portal")

    @task(per_hour["phq9"])
    def phq9(self):
        self.client.get("/portal/phq9/", headers=self.page_headers, name="page: PHQ-9 form")
        answers = {f"item{i}": str(random.choice([0, 1, 1, 2])) for i in range(8)}
        answers["item8"] = "0"
        self.page_post("/portal/phq9/", "page: PHQ-9 sent", answers, self.page_headers)

    @task(per_hour["reminder"])
    def reminder(self):
        token = self.me["respond"]
        if token:
            url = f"/reminders/answer/{token}/"
            self.client.get(url, name="page: reminder link")
            self.page_post(url, "page: reminder link confirmed", {"answer": "confirm"},
                           {"Cookie": f"csrftoken={self.csrf}"})  # fmt: skip

    @task(per_hour["calendar"])
    def calendar(self):
        self.client.get(f"/calendar/{self.me['calendar']}.ics", name="calendar feed")
