from pathlib import Path

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

# The page of the browser tests and the npm packages it loads (tests/test_browser.py): served by the server
# under test, because Chromium lets only a page from a real local server reach 127.0.0.1.
BROWSER_PAGE = Path(__file__).resolve().parent / "browser"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("calendar/api/", include("event_calendar.urls")),
    re_path(
        r"^browser/(?P<path>index\.html|client\.js|node_modules/.+\.js)$",
        serve,
        {"document_root": BROWSER_PAGE},
    ),
]
