"""Settings of the HTTP benchmarks' server: the project's own, with a URLConf that adds a
trivial view (bench/ok) served through the same middleware. Never used outside bench/."""

from telehealth.settings import *  # noqa: F403

ROOT_URLCONF = "http_urls"
