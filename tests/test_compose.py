"""docker-compose.yml must start its server with the settings the embedded server uses,
or results from the two would not be comparable."""

import re

from bench.core.config import PROJECT_ROOT
from bench.core.server import SERVER_SETTINGS


def test_compose_settings_match_embedded_server():
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    flags = dict(re.findall(r"^\s*- ([a-z_.]+)=(\S+)\s*$", text, flags=re.M))
    assert flags == SERVER_SETTINGS
