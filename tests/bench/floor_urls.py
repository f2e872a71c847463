"""The floor probe: what a booking and an admitting scan cost at the least on this schema.

Each view does only what any implementation must: authenticate the token (the portal's own
cached authentication), read what the answer needs in one statement, sign or verify the
pass, and write everything in one more statement (one SQL statement is one transaction).
No rights, window, quota or no-show checks, no ORM, no DRF, no localised errors, no task
published. Served only by the benchmark's second server (``tests.bench.floor``), never by
the portal.
"""

import json
from datetime import UTC, datetime

from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bookings import passes
from portal.authentication import CachedTokenAuthentication
from portal.urls import urlpatterns as portal_urlpatterns

BOOKING_READ = """
SELECT d.id, d.organisation_id, d.vehicle_id, d.driver_id, d.port_id, v.plate,
       s.id, s.starts_at, s.ends_at, s.capacity, s.booked, p.code,
       nextval(pg_get_serial_sequence('bookings_booking', 'id'))
FROM declarations_declaration d
JOIN portal_vehicle v ON v.id = d.vehicle_id, bookings_slot s
JOIN portal_port p ON p.id = s.port_id
WHERE d.id = %s AND s.id = %s
"""

BOOKING_WRITE = """
WITH place AS (
  UPDATE bookings_slot SET booked = booked + 1 WHERE id = %(slot)s AND booked < capacity RETURNING id
), booking AS (
  INSERT INTO bookings_booking (id, status, created_at, updated_at, created_by_id, declaration_id,
                                driver_id, organisation_id, port_id, vehicle_id, slot_id)
  OVERRIDING SYSTEM VALUE
  SELECT %(id)s, 'active', %(now)s, %(now)s, %(user)s, %(declaration)s, %(driver)s, %(firm)s,
         %(port)s, %(vehicle)s, place.id FROM place RETURNING id
), pass AS (
  INSERT INTO bookings_pass (nonce, short_code, token, valid_from, valid_until, issued_at, booking_id)
  SELECT %(nonce)s, %(code)s, %(token)s, %(from)s, %(until)s, %(now)s, booking.id FROM booking
), request AS (
  INSERT INTO notifications_notificationrequest (event, object_type, object_id, key, recipients,
                                                 context, created_at, organisation_id)
  SELECT 'booking.confirmed', 'bookings.booking', booking.id::text, '', %(recipients)s, %(context)s,
         %(now)s, %(firm)s FROM booking
)
SELECT count(*) FROM place
"""

SCAN_READ = """
SELECT p.id, b.id, b.organisation_id, b.port_id, v.plate, d.reference, d.channel
FROM bookings_pass p
JOIN bookings_booking b ON b.id = p.booking_id
JOIN portal_vehicle v ON v.id = b.vehicle_id
JOIN declarations_declaration d ON d.id = b.declaration_id
WHERE p.nonce = %s
"""

SCAN_WRITE = """
WITH booking AS (
  UPDATE bookings_booking SET status = 'checked_in', checked_in_at = %(now)s, updated_at = %(now)s
  WHERE id = %(booking)s AND status = 'active' RETURNING id
), pass AS (
  UPDATE bookings_pass SET used_at = %(now)s
  WHERE id = %(pass)s AND used_at IS NULL AND EXISTS (SELECT 1 FROM booking)
), event AS (
  INSERT INTO bookings_gateevent (kind, reason, comment, client_nonce, offline, used_twice,
                                  scanned_at, recorded_at, booking_id, officer_id, port_id, pass_id)
  SELECT 'check_in', '', '', %(nonce)s, false, false, %(now)s, %(now)s, booking.id, %(user)s,
         %(port)s, %(pass)s FROM booking
), request AS (
  INSERT INTO notifications_notificationrequest (event, object_type, object_id, key, recipients,
                                                 context, created_at, organisation_id)
  SELECT 'booking.checked_in', 'bookings.booking', booking.id::text, '', %(recipients)s,
         %(context)s, %(now)s, %(firm)s FROM booking
)
SELECT count(*) FROM booking
"""


def _user(request):
    key = request.headers["Authorization"].split()[1]
    return CachedTokenAuthentication().authenticate_credentials(key)[0]


@csrf_exempt
def book(request):
    user = _user(request)
    body = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(BOOKING_READ, [body["declaration"], body["slot"]])
        row = cursor.fetchone()
        if row[10] >= row[9]:
            return JsonResponse({"code": "slot_full"}, status=400)
        declaration, firm, vehicle, driver, port, plate, slot, starts, ends, _c, _b, code, pk = row
        nonce = passes.new_nonce()
        token = passes.sign(
            passes.Claims(port_code=code, booking_id=pk, valid_from=starts, valid_until=ends, nonce=nonce)
        )
        cursor.execute(
            BOOKING_WRITE,
            {
                "slot": slot,
                "id": pk,
                "now": datetime.now(UTC),
                "user": user.pk,
                "declaration": declaration,
                "driver": driver,
                "firm": firm,
                "port": port,
                "vehicle": vehicle,
                "nonce": nonce,
                "code": passes.new_short_code(),
                "token": token,
                "from": starts,
                "until": ends,
                "recipients": json.dumps([user.pk]),
                "context": json.dumps({"plate": plate}),
            },
        )
        if cursor.fetchone()[0] != 1:
            return JsonResponse({"code": "slot_full"}, status=400)
    answer = {"id": pk, "plate": plate, "slot": {"id": slot, "starts_at": starts.isoformat()}, "token": token}
    return JsonResponse(answer, status=201)


@csrf_exempt
def scan(request):
    user = _user(request)
    body = json.loads(request.body)
    claims = passes.verify(body["text"])
    with connection.cursor() as cursor:
        cursor.execute(SCAN_READ, [claims.nonce])
        pass_id, booking, firm, port, plate, reference, channel = cursor.fetchone()
        cursor.execute(
            SCAN_WRITE,
            {
                "now": datetime.now(UTC),
                "booking": booking,
                "pass": pass_id,
                "nonce": body["client_nonce"],
                "user": user.pk,
                "port": port,
                "firm": firm,
                "recipients": json.dumps([user.pk]),
                "context": json.dumps({"plate": plate}),
            },
        )
        admitted = cursor.fetchone()[0] == 1
    answer = {"result": "admit" if admitted else "refuse", "plate": plate, "declaration": reference}
    return JsonResponse({**answer, "channel": channel})


urlpatterns = [path("floor/book/", book), path("floor/scan/", scan), *portal_urlpatterns]
