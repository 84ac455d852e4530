"""The floor the vitals API is measured against: one bare INSERT, nothing else.

Mounted only when the BENCH setting is on (tests/benchmarks), never in production: it
has no authentication, no validation and no audit, which is the point of it.
"""

import json

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def bare_vitals_insert(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO scheduling_vitalsigns (session_id, timepoint, measured_at, systolic,"
            " diastolic, heart_rate, spo2, recorded_by_id, recorded_at, amendment_reason)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, '') RETURNING id",
            [body["session"], body["timepoint"], now, body["systolic"], body["diastolic"],
             body["heart_rate"], body["spo2"], body["recorded_by"], now],
        )  # fmt: skip
        (vitals_id,) = cursor.fetchone()
    return JsonResponse({"id": vitals_id}, status=201)
