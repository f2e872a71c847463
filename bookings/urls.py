from django.urls import path
from django.views.generic import RedirectView

from bookings import views

app_name = "bookings"
urlpatterns = [
    path("declarations/<int:pk>/book/", views.booking_new, name="new"),
    path("bookings/", views.my_bookings, name="mine"),
    path("bookings/sw.js", views.service_worker, name="service_worker"),
    path("bookings/<int:pk>/", views.booking_detail, name="detail"),
    path("bookings/<int:pk>/move/", views.booking_move, name="move"),
    path("bookings/<int:pk>/cancel/", views.booking_cancel, name="cancel"),
    path("bookings/<int:pk>/pass/", views.booking_pass, name="pass"),
    # The link in the SMS: short enough to keep a Cyrillic message in two segments.
    path("p/<int:pk>", RedirectView.as_view(pattern_name="bookings:pass"), name="pass_short"),
    path("firms/<int:firm_id>/bookings/", views.firm_bookings, name="firm"),
]
