"""Tokens and file-link signatures never reach a log line (the servers' own access logs are tested with
real servers in tests/test_live.py)."""

from __future__ import annotations

import logging
import logging.config

import pytest

from event_calendar.logs import ACCESS_LOGGERS, MaskTokens, mask_tokens, masked_access_logging

TOKEN = "WyIxIiwxXQ:1xZN6v:K3-V9KZZh-mGDnU3qDsmaLJhDFZQ67Z_RC_gk8sUy0s"


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        (f"GET /api/v1?token={TOKEN}&ws=1", "GET /api/v1?token=***&ws=1"),
        (f"POST /uploads?token={TOKEN} 200", "POST /uploads?token=*** 200"),
        ("GET /uploads/4/cat.png?device=7&sig=abc-DEF_1 200", "GET /uploads/4/cat.png?device=7&sig=*** 200"),
        (f'"GET /events?x=1&token={TOKEN}#top"', '"GET /events?x=1&token=***#top"'),
        ("GET /events?mytoken=1&tokens=2", "GET /events?mytoken=1&tokens=2"),
        (f"GET /events?%74oken={TOKEN}", "GET /events?%74oken=***"),
        (f"GET /events?%74%6F%6B%65%6E={TOKEN}&x=1", "GET /events?%74%6F%6B%65%6E=***&x=1"),
        (f"GET /events?x=1;token={TOKEN}", "GET /events?x=1;token=***"),
        (f"GET /events?token%00={TOKEN} 401", "GET /events?token%00=*** 401"),
        (f"GET /events?TOKEN={TOKEN}", "GET /events?TOKEN=***"),
        ("GET /events?token=", "GET /events?token="),
        (f"token={TOKEN}&ws=1", "token=***&ws=1"),
    ],
)
def test_mask_tokens(line, masked):
    assert mask_tokens(line) == masked


def record(msg, args):
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)


def test_filter_masks_positional_arguments_as_uvicorn_logs_them():
    entry = record('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET", f"/events?token={TOKEN}", "1.1", 200))
    assert MaskTokens().filter(entry) is True
    assert entry.getMessage() == '127.0.0.1:5 - "GET /events?token=*** HTTP/1.1" 200'


def test_filter_masks_mapping_arguments_as_daphnes_runserver_logs_them():
    entry = record("HTTP %(method)s %(path)s %(status)s", {"method": "GET", "path": f"/events?token={TOKEN}",
                                                           "status": 200})
    MaskTokens().filter(entry)
    assert entry.getMessage() == "HTTP GET /events?token=*** 200"


def test_filter_masks_gunicorns_atoms_and_keeps_their_mapping():
    from gunicorn.glogging import SafeAtoms

    atoms = SafeAtoms({"h": "127.0.0.1", "r": f"GET /events?token={TOKEN} HTTP/1.1", "q": f"token={TOKEN}"})
    entry = record('%(h)s "%(r)s" %(q)s %({x-forwarded-for}i)s', atoms)
    MaskTokens().filter(entry)
    assert entry.getMessage() == '127.0.0.1 "GET /events?token=*** HTTP/1.1" token=*** -'


def test_filter_masks_the_message_itself():
    entry = record(f"WebSocket /api/v1?token={TOKEN}&ws=1 [accepted]", ())
    MaskTokens().filter(entry)
    assert TOKEN not in entry.getMessage()


def test_the_access_logging_setting_puts_the_filter_on_every_access_logger():
    config = masked_access_logging()
    logging.config.dictConfig(config)
    try:
        for name in ACCESS_LOGGERS:
            (handler,) = logging.getLogger(name).handlers
            assert any(isinstance(each, MaskTokens) for each in handler.filters)
    finally:
        for name in ACCESS_LOGGERS:
            logging.getLogger(name).handlers.clear()
