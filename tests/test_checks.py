"""One test per system check id in ``event_calendar/checks.py``."""

from __future__ import annotations

from django.core import checks
from django.test import SimpleTestCase
from django.test.utils import override_settings

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from event_calendar.checks import check_deployment, check_settings, check_socket_wiring
from event_calendar.routing import websocket_urlpatterns


class CheckSettingsTests(SimpleTestCase):
    def check_ids(self, expected: list[str], kind: type[checks.CheckMessage] = checks.Error) -> None:
        messages = check_settings()
        assert [message.id for message in messages] == expected
        assert all(type(message) is kind for message in messages)

    def test_defaults_pass(self):
        assert check_settings() == []

    @override_settings(
        DEBUG=True,
        EVENT_CALENDAR={
            "TOKEN_MAX_AGE": 3600,
            "DEMO_LOGIN": True,
            "UPLOAD_MAX_SIZE": 1,
            "UPLOAD_STORAGE": "default",
            "UPLOAD_DIRECTORY": "uploads/calendar",
            "EXTRA_MAX_SIZE": 1024,
        },
    )
    def test_every_key_set_to_a_valid_value_passes(self):
        assert check_settings() == []

    def test_checks_are_registered(self):
        with override_settings(EVENT_CALENDAR={"NOT_A_SETTING": 1}):
            ids = [message.id for message in checks.run_checks()]
        assert ids == ["event_calendar.E002"]

    @override_settings(EVENT_CALENDAR=[("DEMO_LOGIN", True)])
    def test_e001_setting_not_a_dict(self):
        self.check_ids(["event_calendar.E001"])

    @override_settings(EVENT_CALENDAR={"TOKEN_AGE": 60, "DEMO": True})
    def test_e002_unknown_keys(self):
        self.check_ids(["event_calendar.E002", "event_calendar.E002"])
        assert [message.msg for message in check_settings()] == [
            "EVENT_CALENDAR['DEMO'] is not a setting of this app.",
            "EVENT_CALENDAR['TOKEN_AGE'] is not a setting of this app.",
        ]

    @override_settings(EVENT_CALENDAR={"TOKEN_MAX_AGE": 0})
    def test_e003_token_max_age_zero(self):
        self.check_ids(["event_calendar.E003"])

    @override_settings(EVENT_CALENDAR={"UPLOAD_MAX_SIZE": "10485760"})
    def test_e003_upload_max_size_string(self):
        self.check_ids(["event_calendar.E003"])

    @override_settings(EVENT_CALENDAR={"EXTRA_MAX_SIZE": True})
    def test_e003_extra_max_size_bool(self):
        self.check_ids(["event_calendar.E003"])

    @override_settings(EVENT_CALENDAR={"TOKEN_MAX_AGE": -1, "UPLOAD_MAX_SIZE": 1.5})
    def test_e003_once_per_bad_key(self):
        self.check_ids(["event_calendar.E003", "event_calendar.E003"])

    @override_settings(EVENT_CALENDAR={"DEMO_LOGIN": "yes"})
    def test_e004_demo_login_not_bool(self):
        self.check_ids(["event_calendar.E004"])

    @override_settings(EVENT_CALENDAR={"UPLOAD_STORAGE": "calendar-files"})
    def test_e005_upload_storage_not_in_storages(self):
        self.check_ids(["event_calendar.E005"])

    @override_settings(
        EVENT_CALENDAR={"UPLOAD_STORAGE": "calendar-files"},
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            "calendar-files": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
        },
    )
    def test_e005_passes_for_storage_in_storages(self):
        self.check_ids([])

    @override_settings(EVENT_CALENDAR={"UPLOAD_DIRECTORY": "/var/uploads"})
    def test_e006_upload_directory_absolute(self):
        self.check_ids(["event_calendar.E006"])

    @override_settings(EVENT_CALENDAR={"UPLOAD_DIRECTORY": "calendar/../../etc"})
    def test_e006_upload_directory_climbs_out(self):
        self.check_ids(["event_calendar.E006"])

    @override_settings(EVENT_CALENDAR={"UPLOAD_DIRECTORY": ""})
    def test_e006_upload_directory_empty(self):
        self.check_ids(["event_calendar.E006"])

    @override_settings(DEBUG=False, EVENT_CALENDAR={"DEMO_LOGIN": True})
    def test_w001_demo_login_without_debug(self):
        self.check_ids(["event_calendar.W001"], kind=checks.Warning)

    @override_settings(DEBUG=True, EVENT_CALENDAR={"DEMO_LOGIN": True})
    def test_w001_not_raised_with_debug(self):
        self.check_ids([])


class CheckSettingsAdditionsTests(SimpleTestCase):
    @override_settings(EVENT_CALENDAR={"SOCKET_MAX_FRAME_SIZE": -5})
    def test_e003_socket_max_frame_size_negative(self):
        assert [message.id for message in check_settings()] == ["event_calendar.E003"]

    @override_settings(EVENT_CALENDAR={"SOCKET_ALLOWED_ORIGINS": "https://app.example.com"})
    def test_e007_allowed_origins_not_a_list(self):
        assert [message.id for message in check_settings()] == ["event_calendar.E007"]

    @override_settings(EVENT_CALENDAR={"SOCKET_ALLOWED_ORIGINS": ["https://app.example.com", "*"]})
    def test_e007_not_raised_for_a_list_of_origins(self):
        assert check_settings() == []


misrouted_application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("live/", URLRouter(websocket_urlpatterns))])}
)
unrouted_application = ProtocolTypeRouter({"websocket": URLRouter([])})


class CheckSocketWiringTests(SimpleTestCase):
    def test_socket_mounted_beside_the_rest_routes_passes(self):
        assert check_socket_wiring() == []

    @override_settings(CHANNEL_LAYERS={})
    def test_w002_no_channel_layer(self):
        assert [message.id for message in check_socket_wiring()] == ["event_calendar.W002"]

    @override_settings(ASGI_APPLICATION="tests.test_checks.misrouted_application")
    def test_w003_socket_under_another_prefix(self):
        messages = check_socket_wiring()
        assert [message.id for message in messages] == ["event_calendar.W003"]
        assert "/calendar/api/api/v1" in messages[0].msg and "/live/api/v1" in messages[0].msg

    @override_settings(ASGI_APPLICATION="tests.test_checks.unrouted_application")
    def test_w003_socket_not_mounted(self):
        assert [message.id for message in check_socket_wiring()] == ["event_calendar.W003"]


class CheckNewCalendarAccessTests(SimpleTestCase):
    @override_settings(EVENT_CALENDAR={"NEW_CALENDAR_OPEN_TO": "everyone"})
    def test_e008_unknown_open_to(self):
        assert [message.id for message in check_settings()] == ["event_calendar.E008"]

    @override_settings(EVENT_CALENDAR={"NEW_CALENDAR_OPEN_TO": "viewer"})
    def test_e008_not_raised_for_a_known_value(self):
        assert check_settings() == []


class CheckLimitTests(SimpleTestCase):
    @override_settings(EVENT_CALENDAR={"SOCKET_MAX_FRAMES_PER_MINUTE": 0})
    def test_e003_socket_frame_rate_zero(self):
        assert [message.id for message in check_settings()] == ["event_calendar.E003"]

    @override_settings(EVENT_CALENDAR={"REST_THROTTLE_RATE": "1200 per minute"})
    def test_e009_unreadable_rest_rate(self):
        assert [message.id for message in check_settings()] == ["event_calendar.E009"]

    @override_settings(EVENT_CALENDAR={"REST_THROTTLE_RATE": 1200})
    def test_e009_rest_rate_not_a_string(self):
        assert [message.id for message in check_settings()] == ["event_calendar.E009"]

    def test_e009_not_raised_for_a_rate_or_none(self):
        for rate in ("5/s", "1200/min", "10000/hour", "1/day", None):
            with override_settings(EVENT_CALENDAR={"REST_THROTTLE_RATE": rate}):
                assert check_settings() == []


class CheckUploadTypesTests(SimpleTestCase):
    def test_e010_not_a_list_of_types(self):
        for accepted in ("image/*", ["images"], ["image/png", 5], ["Image/PNG"]):
            with override_settings(EVENT_CALENDAR={"UPLOAD_CONTENT_TYPES": accepted}):
                assert [message.id for message in check_settings()] == ["event_calendar.E010"], accepted

    def test_e010_not_raised_for_types_families_or_none(self):
        for accepted in (None, [], ["image/*", "application/pdf", "application/vnd.ms-excel"]):
            with override_settings(EVENT_CALENDAR={"UPLOAD_CONTENT_TYPES": accepted}):
                assert check_settings() == []


class CheckDeploymentTests(SimpleTestCase):
    def deploy_ids(self) -> list[str]:
        return [message.id for message in check_deployment()]

    @override_settings(EVENT_CALENDAR={"DEMO_LOGIN": True}, DEBUG=False)
    def test_e011_demo_login_on(self):
        assert self.deploy_ids() == ["event_calendar.E011"]

    @override_settings(EVENT_CALENDAR={"SOCKET_ALLOWED_ORIGINS": ["https://app.example.com", "*"]})
    def test_w004_every_origin(self):
        assert self.deploy_ids() == ["event_calendar.W004"]

    @override_settings(EVENT_CALENDAR={"REST_THROTTLE_RATE": None})
    def test_w005_no_throttle(self):
        assert self.deploy_ids() == ["event_calendar.W005"]

    @override_settings(EVENT_CALENDAR={})
    def test_nothing_for_the_defaults(self):
        assert self.deploy_ids() == []

    @override_settings(EVENT_CALENDAR={"DEMO_LOGIN": True})
    def test_only_under_deploy(self):
        from django.core import checks

        assert "event_calendar.E011" not in [message.id for message in checks.run_checks()]
        deployment = checks.run_checks(include_deployment_checks=True)
        assert "event_calendar.E011" in [message.id for message in deployment]
