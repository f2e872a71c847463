from django.urls import path

from bookings import gate_views

app_name = "gate"
urlpatterns = [
    path("", gate_views.scanner, name="scanner"),
    path("port/", gate_views.port_choose, name="port"),
    path("bookings/<int:pk>/release/", gate_views.booking_release, name="release"),
    path("bookings/<int:pk>/hold/", gate_views.booking_hold, name="hold"),
    path("bookings/<int:pk>/exit/", gate_views.booking_exit, name="exit"),
    path("sw.js", gate_views.service_worker, name="service_worker"),
]
