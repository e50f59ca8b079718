"""Configuration: ``config.yaml`` → ``CLASSPULSE_…`` environment variables → CLI ``--set``.

Later sources win. Every key is validated at start-up by pydantic with unknown keys
forbidden, and errors name the key and where its value came from, e.g.
``config error: analysis.sample_interval_s = -1 (from env CLASSPULSE_ANALYSIS__SAMPLE_INTERVAL_S):
Input should be greater than 0``.

Environment variables use ``__`` between section and key:
``CLASSPULSE_ANALYSIS__EMOTIONS=off``, ``CLASSPULSE_STORE__URL=postgresql://…``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

ENV_PREFIX = "CLASSPULSE_"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"


class ConfigError(ValueError):
    """Invalid configuration; the message names the key, the value's source and the reason."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSection(_Section):
    name: str = Field(default="ClassPulse — engagement notes", min_length=3, max_length=64)
    notice: str = Field(min_length=10, default=(
        "ClassPulse is taking engagement notes for your teacher: presence, attention and facial "
        "expression levels as numbers. No video or pictures are stored. Ask your teacher to opt out."))


class AnalysisSection(_Section):
    sample_interval_s: float = Field(default=1.0, gt=0, le=60)
    detector: Literal["auto", "yunet", "blazeface", "blazeface_full", "haar"] = "auto"
    landmarks: bool = True
    emotions: bool = True
    min_face_px: int = Field(default=40, ge=8, le=1000)
    model_dir: str | None = None
    batch_size: int = Field(default=64, ge=1, le=1024)
    # Live-only shortcuts (docs/bot.md "Cost model"); `classpulse analyze`/`evaluate` never use them.
    live_choose_detector: bool = True  # per stream: BlazeFace for one large face, YuNet otherwise
    live_mesh_every: int = Field(default=3, ge=1, le=100)  # face mesh every Nth sample of a face...
    live_mesh_move: float = Field(default=0.1, ge=0, le=10)  # ...or when its box moved this share of its size
    live_skip_uncertain_emotion: bool = True  # no emotion call for a face already flagged uncertain
    # Live sessions run the analyser in its own process (bot/sessions/analysis_process.py): the
    # second core, no GIL shared with receiving. `classpulse analyze`/`evaluate` always run in process.
    process: bool = True


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where ClassPulse keeps its database and reports when nothing else is said: never the cwd.

    `$XDG_DATA_HOME/classpulse`, else `~/.local/share/classpulse` (the XDG default).
    """
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser().resolve() / "classpulse"


class StoreSection(_Section):
    #: The folder for the default database and reports; "" = `default_data_dir()`.
    data_dir: str = ""
    #: SQLAlchemy URL; "" = SQLite at <data_dir>/classpulse.db.
    url: str = ""
    retention_days: int = Field(default=30, ge=1, le=3650)
    #: The term view's per-student per-session summaries (`analysis.summaries`): a school year.
    summary_retention_days: int = Field(default=365, ge=1, le=3650)
    #: Class rosters (students' names, aliases, e-mails) are deleted this long after their last upload.
    roster_retention_days: int = Field(default=365, ge=1, le=3650)
    flush_s: float = Field(default=2.0, gt=0, le=60)


class ReportsSection(_Section):
    out_dir: str = ""  # "" = <store.data_dir>/reports
    formats: tuple[Literal["html", "pdf"], ...] = ("html", "pdf")
    paper: Literal["A4", "Letter"] = "A4"


class SessionSection(_Section):
    """A live session's timing: when to give up joining, when to leave."""

    join_timeout_s: float = Field(default=30.0, gt=0, le=600)
    empty_timeout_s: float = Field(default=300.0, gt=0, le=24 * 3600)
    nobody_timeout_s: float = Field(default=900.0, gt=0, le=24 * 3600)
    max_duration_s: float = Field(default=4 * 3600.0, gt=0, le=24 * 3600)
    media_timeout_s: float = Field(default=30.0, gt=0, le=600)
    stale_frame_s: float = Field(default=3.0, gt=0, le=60)
    #: An attempt whose process shows no sign of life (heartbeat) for this long is taken as dead.
    attempt_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    #: Attempts per session: rejoins after a lost connection or a crash while its window is open.
    max_attempts: int = Field(default=5, ge=1, le=100)
    # bots running at once in `classpulse serve` (all teachers), and per teacher; more get 429
    max_concurrent: int = Field(default=8, ge=1, le=1000)
    max_concurrent_per_teacher: int = Field(default=3, ge=1, le=1000)


class ClusterSection(_Section):
    """Sessions as jobs on PostgreSQL workers (docs/deploy.md); ignored with SQLite (one process)."""

    #: Who runs the bots: `workers` (`classpulse worker` processes; `serve` only queues), `embedded`
    #: (`serve` runs them itself, as on one machine), `auto` = workers with PostgreSQL, embedded with SQLite.
    sessions: Literal["auto", "workers", "embedded"] = "auto"

    #: Each worker's sign of life in procrastinate's `procrastinate_workers` table.
    heartbeat_s: float = Field(default=3.0, gt=0, le=300)
    #: A worker silent this long is taken as dead: its classes are re-queued and taken over.
    stalled_after_s: float = Field(default=10.0, gt=0, le=3600)
    #: How often a worker (and the scheduler leader) sweeps for dead workers' and unplaced classes.
    sweep_s: float = Field(default=3.0, gt=0, le=600)
    #: A class that does not fit a worker goes back to the queue for this long before another try.
    retry_s: float = Field(default=1.0, gt=0, le=60)
    #: Students one worker takes at once when `classpulse worker` is given no --capacity.
    capacity: int = Field(default=30, ge=1, le=10000)
    #: How often a worker publishes its classes' live progress (LISTEN/NOTIFY) to the API nodes.
    live_s: float = Field(default=2.0, gt=0, le=60)
    #: How often a standby scheduler tries to become the leader.
    leader_poll_s: float = Field(default=2.0, gt=0, le=600)
    #: The base URL at which students' browsers reach THIS worker's built-in classroom (it serves
    #: `classroom:` classes on `classroom.host`:`classroom.port`; port 0 = any free port), e.g.
    #: https://bot1.school.example behind a TLS proxy. Empty: http://HOST:PORT as bound.
    classroom_url: str = Field(default="", max_length=500)


class ClassroomSection(_Section):
    """The built-in classroom: the bot's own web server where students share their camera (WHIP)."""

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = ""
    max_body_bytes: int = Field(default=65536, ge=1024, le=1 << 20)
    max_students: int = Field(default=60, ge=1, le=1000)
    # a camera that sends no frame this long after its offer is dropped (a ghost): no seat, no student
    first_media_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # offers still waiting for their first frame, per client address (0: no cap, e.g. benchmarks)
    max_pending_per_client: int = Field(default=10, ge=0, le=1000)
    # WHIP offers per client address and minute, counted in the database across every node (0: off)
    offers_per_minute_per_client: int = Field(default=30, ge=0, le=100_000)
    # What the join page publishes: the analysis reads one frame per student per second at most
    # and needs faces of ~100 px, so more costs the bot receive CPU for nothing (docs/bot.md).
    publish_width: int = Field(default=640, ge=160, le=1920)
    publish_height: int = Field(default=480, ge=120, le=1080)
    publish_fps: int = Field(default=5, ge=1, le=30)
    publish_max_kbps: int = Field(default=300, ge=50, le=4000)
    # Receive worker processes for the classroom's cameras (bot/web/receive_pool.py): 0 receives in
    # the bot's own process; N >= 1 shards the students' peer connections over N processes.
    receive_workers: int = Field(default=0, ge=0, le=32)
    # A student whose receive worker died is `no_signal` this long while their browser reconnects
    # (the same student when it does); only then "left".
    receive_rejoin_grace_s: float = Field(default=60.0, gt=0, le=600)


class JanusSection(_Section):
    """Talking to a Janus VideoRoom over its HTTP API."""

    request_timeout_s: float = Field(default=10.0, gt=0, le=120)
    keepalive_s: float = Field(default=25.0, gt=0, le=55)
    reconnect_timeout_s: float = Field(default=30.0, ge=0, le=600)
    #: After the bot gets back into the room, students missing from it are still reconnecting
    #: themselves (an SFU restart drops everybody): `no_signal` for this long, and the same
    #: student when a feed with their name comes back; only then "left".
    rejoin_grace_s: float = Field(default=60.0, ge=0, le=600)
    #: Simulcast layer a new subscription starts on (0 lowest … 2 highest; -1: never ask).
    substream: int = Field(default=0, ge=-1, le=2)
    #: Move a simulcast student up a layer while their face is narrower than this in the
    #: received video, and down when it would stay well above it (`bot.connectors.layers`);
    #: 0 keeps `substream` for the whole class.
    min_face_px: float = Field(default=120.0, ge=0, le=2000)
    #: Receive the students' video in this many worker processes (`bot.web.receive_pool`, as
    #: `classroom.receive_workers`): signalling stays in the bot, media and decoding move out.
    receive_workers: int = Field(default=0, ge=0, le=32)


class ZoomSection(_Section):
    """Zoom Realtime Media Streams (docs/zoom.md). Secrets are `SecretStr`: never printed or logged."""

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    codec: Literal["jpg", "png", "h264"] = "jpg"
    resolution: Literal["sd", "hd", "fhd"] = "sd"
    fps: int = Field(default=5, ge=1, le=30)
    dwell_s: float = Field(default=3.0, gt=0, le=60)
    frame_timeout_s: float = Field(default=3.0, gt=0, le=60)
    handshake_timeout_s: float = Field(default=10.0, gt=0, le=120)
    reconnect_timeout_s: float = Field(default=30.0, ge=0, le=600)  # media socket: Zoom waits 30–65 s
    signal_reconnect_s: float = Field(default=55.0, ge=0, le=600)  # signaling: Zoom keeps it about 1 min
    reconnect_backoff_s: float = Field(default=1.0, gt=0, le=30)  # first retry delay, doubled up to 10 s
    keepalive_timeout_s: float = Field(default=65.0, gt=0, le=600)  # no keep-alive this long: redo handshake
    probe_retry_s: float = Field(default=60.0, gt=0, le=3600)  # re-try a student whose camera state is unknown
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8090, ge=0, le=65535)
    webhook_path: str = Field(default="/zoom/webhook", pattern=r"^/")
    #: Stream servers on private, loopback or link-local addresses: refused unless this is true
    #: (tests with the in-process fake, on-premise stream servers). docs/zoom.md.
    allow_private_server_urls: bool = False
    #: Fallback only: the teacher (token name) owning RTMS streams of meetings NOT mapped to a class.
    #: Empty (default): such meetings are ignored — with auto-start every meeting of the account
    #: streams, and only registered classes are analysed (docs/zoom.md, "Which meetings are analysed").
    owner: str = Field(default="", max_length=200)

    @field_validator("client_id", "client_secret", "webhook_secret", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        """Env values are parsed like YAML: a secret that looks like a number stays text."""
        return value if isinstance(value, str | SecretStr) or value is None else str(value)


class DeliverySection(_Section):
    """How `classpulse serve` hands finished reports to teachers: e-mail (SMTP) and webhooks.

    The SMTP password and the webhook signing key are `SecretStr`: never printed or logged."""

    smtp_host: str = ""  # empty: no e-mail
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    mail_from: str = Field(default="ClassPulse <classpulse@localhost>", min_length=3)
    webhook_secret: SecretStr = SecretStr("")  # HMAC-SHA256 key of X-ClassPulse-Signature; needed for webhooks
    attempts: int = Field(default=6, ge=1, le=50)
    backoff_s: float = Field(default=5.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=600.0, gt=0, le=24 * 3600)
    timeout_s: float = Field(default=20.0, gt=0, le=300)
    # Networks (CIDR) a webhook may reach although they are not public, e.g. a school's own receiver.
    allow_networks: tuple[str, ...] = ()
    #: The administrators: told (besides the class's owner) of what only they can fix, e.g. a class
    #: no worker had room for (`no_capacity`). E-mail needs smtp_host; the webhook, webhook_secret.
    admin_emails: tuple[str, ...] = ()
    admin_webhook_url: str = Field(default="", max_length=1000)

    @field_validator("smtp_password", "webhook_secret", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        """Env values are parsed like YAML: a secret that looks like a number stays text."""
        return value if isinstance(value, str | SecretStr) or value is None else str(value)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from bot.service.urlguard import parse_networks

        parse_networks(value)
        return value

    @field_validator("admin_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if "@" not in address or any(c.isspace() for c in address) or len(address) > 254:
                raise ValueError(f"admin_emails: {address[:100]!r} is not an e-mail address")
        return value

    @field_validator("admin_webhook_url")
    @classmethod
    def _admin_webhook(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if value and (parts.scheme not in ("http", "https") or not parts.hostname or parts.username):
            raise ValueError("admin_webhook_url must be an http(s) URL with a host and no credentials")
        return value


class ServiceSection(_Section):
    """`classpulse serve`'s HTTP side: which reverse proxies it trusts, limits, the access log."""

    # Peers (CIDR) whose X-Forwarded-For / X-Forwarded-Proto are believed: a TLS reverse proxy in
    # front of the service. Empty: those headers are ignored and the TCP peer is the client.
    trusted_proxies: tuple[str, ...] = ()
    # failed dashboard log-ins per client address and minute, shared by every node (0: off)
    login_attempts_per_minute: int = Field(default=20, ge=0, le=100_000)
    # how long the report access log keeps its rows
    access_log_days: int = Field(default=365, ge=1, le=3650)
    # subscribed timetable feeds: seconds one read may take, and the largest feed accepted
    feed_timeout_s: float = Field(default=20.0, gt=0, le=300)
    feed_max_bytes: int = Field(default=5 << 20, ge=1024, le=100 << 20)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from bot.web.proxies import parse_proxies

        parse_proxies(value)
        return value


class Config(_Section):
    @property
    def queued_sessions(self) -> bool:
        """Do `classpulse worker`s run the sessions (and `serve` only queue them)? See `cluster.sessions`."""
        if self.cluster.sessions != "auto":
            return self.cluster.sessions == "workers"
        return self.store.url.startswith(("postgresql", "postgres"))


    bot: BotSection = BotSection()
    analysis: AnalysisSection = AnalysisSection()
    store: StoreSection = StoreSection()
    reports: ReportsSection = ReportsSection()
    session: SessionSection = SessionSection()
    cluster: ClusterSection = ClusterSection()
    classroom: ClassroomSection = ClassroomSection()
    janus: JanusSection = JanusSection()
    zoom: ZoomSection = ZoomSection()
    delivery: DeliverySection = DeliverySection()
    service: ServiceSection = ServiceSection()

    @model_validator(mode="after")
    def _absolute_paths(self) -> Config:
        """Fill in the data paths once, as absolute paths, so no later step depends on the cwd."""
        data = Path(self.store.data_dir).expanduser().resolve() if self.store.data_dir else default_data_dir()
        url = self.store.url or f"sqlite:///{data / 'classpulse.db'}"
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            url = f"sqlite:///{Path(url.removeprefix('sqlite:///')).expanduser().resolve()}"
        out = Path(self.reports.out_dir).expanduser().resolve() if self.reports.out_dir else data / "reports"
        object.__setattr__(self, "store", self.store.model_copy(update={"data_dir": str(data), "url": url}))
        object.__setattr__(self, "reports", self.reports.model_copy(update={"out_dir": str(out)}))
        return self


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config error: {dotted}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def _parse_scalar(text: str) -> Any:
    """Parse an override like YAML does (numbers, on/off, lists), keeping plain strings."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
) -> Config:
    """Build the validated configuration from file, environment and ``KEY=VALUE`` overrides."""
    env = os.environ if env is None else env
    sources: dict[str, str] = {}
    data: dict[str, Any] = {}
    cfg_path = Path(path) if path else Path(env.get(f"{ENV_PREFIX}CONFIG", DEFAULT_CONFIG))
    if path or cfg_path.exists():
        try:
            loaded = yaml.safe_load(cfg_path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config error: file {cfg_path} not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config error: {cfg_path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config error: {cfg_path} must hold a mapping of sections")
        data = loaded
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == f"{ENV_PREFIX}CONFIG" or "__" not in name:
            continue
        key = name.removeprefix(ENV_PREFIX).lower().replace("__", ".")
        _set_path(data, key, _parse_scalar(value))
        sources[key] = f"env {name}"
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"config error: --set {item!r} must look like section.key=value")
        _set_path(data, key.strip(), _parse_scalar(value))
        sources[key.strip()] = f"--set {item}"
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        where = sources.get(key, str(cfg_path))
        plain = err["type"] != "missing" and not isinstance(err["input"], dict)
        shown = f" = {err['input']!r}" if plain else ""
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"config error: {key}{shown} (from {where}): {err['msg']}{more}") from None
