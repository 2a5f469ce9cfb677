"""The access log redacts signatures and tokens in query strings (see api/access_log.py)."""

import logging

import pytest

from modelyard.api.access_log import RedactSecrets, redact_target


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/api/lfs/1/ab?size=3&exp=9&sig=deadbeef", "/api/lfs/1/ab?size=3&exp=9&sig=REDACTED"),
        ("/xet-cas/v1/fetch/ab?r=0-9&exp=9&sig=cafe", "/xet-cas/v1/fetch/ab?r=0-9&exp=9&sig=REDACTED"),
        (
            "/x?access_token=my_1&token=my_2&X-Amz-Signature=s",
            "/x?access_token=REDACTED&token=REDACTED&X-Amz-Signature=REDACTED",
        ),
        ("/x?api%5Fkey=k&Password=p", "/x?api%5Fkey=REDACTED&Password=REDACTED"),
        ("/api/models?search=sig&author=alice", "/api/models?search=sig&author=alice"),
        ("/alice/repo/resolve/main/sig=1.txt", "/alice/repo/resolve/main/sig=1.txt"),
        ("/x?sig", "/x?sig"),
        ("/x?auth=a&Authorization=b", "/x?auth=REDACTED&Authorization=REDACTED"),
    ],
)
def test_secret_query_values_are_redacted(target, expected):
    assert redact_target(target) == expected


def test_the_filter_rewrites_uvicorns_access_record():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/lfs/1/ab?exp=9&sig=deadbeef", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /api/lfs/1/ab?exp=9&sig=REDACTED HTTP/1.1" 200'
