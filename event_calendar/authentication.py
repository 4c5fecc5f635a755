"""DRF authentication by Remote-Token: the header on every request, ``?token=`` where the widget cannot
send headers (GET, and views that set ``accepts_query_token``, such as uploads)."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from .tokens import InvalidToken, read_token

HEADER = "HTTP_REMOTE_TOKEN"


class RemoteTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        token = request.META.get(HEADER)
        if token is None and self.accepts_query_token(request):
            token = request.query_params.get("token")
        if token is None:
            return None
        try:
            device = read_token(token)
        except InvalidToken as exc:
            raise AuthenticationFailed(str(exc)) from None
        return device.user, device

    def accepts_query_token(self, request) -> bool:
        view = request.parser_context.get("view")
        return request.method == "GET" or getattr(view, "accepts_query_token", False)

    def authenticate_header(self, request) -> str:
        # A value here makes DRF answer 401 rather than 403 when the token is missing or bad.
        return 'Remote-Token realm="event_calendar"'
