"""URL configuration of the sample app used by the tests, Molecule and the benchmarks."""
from django.urls import path

from catalog import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("version/", views.version, name="version"),
    path("items/", views.items, name="items"),
    path("io/", views.io_wait, name="io"),
    path("cpu/", views.cpu_burn, name="cpu"),
]
