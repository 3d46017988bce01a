"""A paho-mqtt 2.x client configured from `[mqtt]`: identity, credentials, TLS, will, backoff.

The paho glue only: the delivery rules are `telemetry.mqtt`'s. Secrets go to paho only; nothing here
logs.
"""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edged.config.settings import Config
from telemetry import topics


def build_client(config: Config) -> mqtt.Client:
    """MQTT 3.1.1, client id `edged-{site}` unless set, last will `offline` retained on P/status.

    TLS always verifies the broker's certificate chain (`insecure` only skips the host name).
    With `[remote]` on, the session is persistent (clean session off): the broker queues the
    commands sent while the site is offline, and their expiry decides whether they still run.
    May raise OSError/ValueError for unreadable certificate files: the caller decides.
    """
    client = connect_as(config, config.mqtt.client_id or f"edged-{config.site.id}")
    cfg = config.mqtt
    root = config.topic_root
    client.will_set(topics.status_topic(root), topics.STATUS_OFFLINE, qos=1, retain=True)
    client.reconnect_delay_set(cfg.reconnect_min, cfg.reconnect_max)
    client.max_inflight_messages_set(cfg.max_inflight)
    return client


def connect_as(config: Config, client_id: str) -> mqtt.Client:
    """A client with the site's credentials and TLS under `client_id`, nothing else: no will, no
    backoff (for a one-off connection such as `edged doctor`'s, which must not kick the daemon's
    session off nor publish its `offline`). May raise OSError/ValueError/ssl.SSLError for
    unreadable or bad certificate files."""
    cfg = config.mqtt
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=not config.remote.enabled,
    )
    if cfg.username is not None:
        client.username_pw_set(cfg.username, cfg.password)
    if cfg.tls is not None:
        client.tls_set(
            ca_certs=cfg.tls.ca_file,
            certfile=cfg.tls.cert_file,
            keyfile=cfg.tls.key_file,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        client.tls_insecure_set(cfg.tls.insecure)
    return client
