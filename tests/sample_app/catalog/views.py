"""Views that matter for Gunicorn sizing: a cheap health check, an ORM + template page,
a /version/ page (the code's revision), an I/O-bound page (a sleep standing for a slow upstream) and a CPU-bound page."""
import time

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render

from .models import Item

# Bounds keep every request short, whatever a caller asks for.
MAX_MS = 2000


def _duration_ms(request, default):
    try:
        value = int(request.GET.get("ms", default))
    except ValueError:
        return None
    return value if 0 <= value <= MAX_MS else None


def healthz(request):
    return HttpResponse("ok\n", content_type="text/plain")


def version(request):
    return HttpResponse(f"revision {settings.MYSITE_REVISION}\n", content_type="text/plain")


def items(request):
    rows = Item.objects.all()
    return render(request, "catalog/items.html", {"items": rows, "count": rows.count()})


def io_wait(request):
    ms = _duration_ms(request, 50)
    if ms is None:
        return HttpResponseBadRequest(f"ms must be 0..{MAX_MS}\n")
    time.sleep(ms / 1000)
    return HttpResponse(f"waited {ms} ms\n", content_type="text/plain")


def cpu_burn(request):
    ms = _duration_ms(request, 20)
    if ms is None:
        return HttpResponseBadRequest(f"ms must be 0..{MAX_MS}\n")
    # thread_time, not process_time: under gthread, other threads' CPU would count for this request.
    deadline = time.thread_time() + ms / 1000
    rounds = 0
    while time.thread_time() < deadline:
        sum(i * i for i in range(1000))
        rounds += 1
    return HttpResponse(f"burned {ms} ms of CPU in {rounds} rounds\n", content_type="text/plain")
