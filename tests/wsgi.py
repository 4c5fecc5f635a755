"""The WSGI application of the tests: a site's REST routes served by a WSGI server, as the README's
deployment with WSGI workers does (the socket stays on an ASGI server)."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
