from django.urls import path

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
    path("firms/<int:firm_id>/bookings/", views.firm_bookings, name="firm"),
]
