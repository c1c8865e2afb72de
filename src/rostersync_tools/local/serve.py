"""The whole product in one local process, on loopback: what ``rostersync serve`` runs.

:class:`LocalProduct` starts :class:`~rostersync_tools.local.stack.LocalAws` (``template.yaml`` in moto,
the real state machine definition on moto's interpreter, the functions routed to their handlers)
and puts moto's AWS APIs on an HTTP port too (``ThreadedMotoServer`` over the same in-process
backends, so ``aws --endpoint-url`` and the presigned S3 URLs the API hands out work from any
client). Around it: the release API over HTTP (the real ``ApiFunction`` handler behind
:mod:`rostersync_tools.local.apigw`, with locally issued bearer tokens for a district admin and an
operator), an SFTP endpoint whose uploads land in ``inbox/<district_id>/`` and raise S3's "Object
Created" event as EventBridge would (:mod:`rostersync_tools.local.sftp`), an ``outbox/`` of the emails
SES accepted (:mod:`rostersync_tools.local.outbox`), and a watcher that reports each sync's status
changes as they happen (:mod:`rostersync_tools.local.watch`: driven by events, so idle costs
nothing however long the history). Every name and value from outside is escaped where it is
printed, and no background thread dies silently: a failure is logged and the loop goes on.
Everything a client needs is in :class:`Endpoints`, also written to
``<workdir>/serve.json``. Development only: nothing here is deployed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
import queue
import secrets
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rostersync_tools.render import safe

if TYPE_CHECKING:  # moto is imported only once the S3 endpoint variables are set (see start)
    from rostersync.pipeline.models import SyncRecord
    from rostersync.pipeline.ports import Deps
    from rostersync_tools.local.apigw import ApiServer
    from rostersync_tools.local.districts import LocalDistrict
    from rostersync_tools.local.outbox import MailRecorder, OutboxEmail
    from rostersync_tools.local.sftp import InboxSftpServer, SftpAccount
    from rostersync_tools.local.signin import LocalSignIn, LocalUser
    from rostersync_tools.local.stack import LocalAws
    from rostersync_tools.local.tenancy import LocalTenancy
    from rostersync_tools.local.watch import SyncWatcher

Log = Callable[[str], None]

REPO_ROOT = Path(__file__).resolve().parents[3]  # src/rostersync_tools/local/serve.py
DEMO_DISTRICT = "demo"
DEMO_ADMIN_EMAIL = "admin@demo-usd.example.org"
OPERATOR_EMAIL = "operator@vendor.example.com"
SENDER_EMAIL = "rostersync@vendor.example.com"
# How often serve runs the scheduled tick (TickSchedule's rate on AWS is 15 minutes).
TICK_SECONDS = 60.0
TOKEN_TTL_SECONDS = 7 * 24 * 3600
# Requests that may change a sync without a function writing it (decisions, rollbacks).
_READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The template parameter the emails' console links are built from (its value: the console URL).
CONSOLE_BASE_URL_PARAMETER = "ConsoleBaseUrl"


class ServeError(RuntimeError):
    """The local product cannot start as asked."""


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    api_port: int = 0  # 0: a free port
    sftp_port: int = 0
    moto_port: int = 0
    workdir: Path = Path(".rostersync")
    quiet_seconds: int = 2
    district_id: str = DEMO_DISTRICT
    district_name: str = "Demo Unified School District"
    admin_email: str = DEMO_ADMIN_EMAIL
    sftp_user: str = DEMO_DISTRICT
    sftp_password: str | None = None  # None: a new random one each run
    sftp_authorized_keys: Path | None = None
    template: Path = REPO_ROOT / "template.yaml"
    function_logs: bool = False  # the functions' Powertools INFO logs on stdout
    # Districts onboarded besides the one above, each with its own SFTP login and admin token.
    extra_districts: tuple[LocalDistrict, ...] = ()
    # How often the districts' pull times are checked (scheduled pulls, local/schedules.py).
    pull_check_seconds: float = 5.0
    # Start local Clever and OneRoster sources and onboard a district pulled from each.
    with_sample_sources: bool = False


@dataclass(frozen=True)
class Endpoints:
    """Where everything is, as printed at start and written to ``<workdir>/serve.json``."""

    district_id: str
    api_url: str
    admin_token: str
    operator_token: str
    admin_email: str
    sftp_host: str
    sftp_port: int
    sftp_user: str
    sftp_password: str | None
    sftp_host_key_fingerprint: str
    aws_endpoint_url: str
    raw_bucket: str
    snapshot_bucket: str
    table_name: str
    outbox: str
    region: str
    extra: dict[str, Any] = field(default_factory=dict)
    console_url: str = ""  # the admin console (sign in there as the demo admin or the operator)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def read(cls, path: Path) -> Endpoints:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def require_loopback(host: str) -> str:
    """The IPv4 loopback address to serve on: everything is served without TLS and with
    development credentials, so nothing else is accepted."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise ServeError(f"{host} is not an IPv4 loopback address; the local product serves 127.0.0.1 only")
    return host


class LocalProduct:
    """The local product; ``start()`` returns its :class:`Endpoints`, ``stop()`` ends it all."""

    def __init__(self, options: ServeOptions | None = None, log: Log | None = None) -> None:
        self.options = options or ServeOptions()
        self.log: Log = _guarded(timestamped(log or (lambda _line: None)))
        self.stack: LocalAws | None = None
        self.endpoints: Endpoints | None = None
        self.outbox_dir = self.options.workdir / "outbox"
        # Our own calls into the stack (API requests, event deliveries) one at a time: moto and
        # the routed handlers are not made for concurrent use.
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._events: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._moto: Any = None
        self._api: ApiServer | None = None
        self._sftp: InboxSftpServer | None = None
        self._watcher: SyncWatcher | None = None
        self._saved_environ: dict[str, str] | None = None
        self._saved_stdout: Any = None
        self._mail: MailRecorder | None = None
        self._secret = secrets.token_urlsafe(32)  # signs the local ID tokens (API and console)
        self._tenancy: LocalTenancy | None = None
        self._sign_in: LocalSignIn | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalProduct:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> Endpoints:
        options = self.options
        options.host = require_loopback(options.host)
        if not options.template.is_file():
            raise ServeError(f"no template at {options.template}")
        options.workdir.mkdir(parents=True, exist_ok=True)
        # The stack lives in memory: emails of an earlier run refer to syncs that are gone.
        for stale in self.outbox_dir.glob("*.eml"):
            stale.unlink()
        moto_port = options.moto_port or free_port(options.host)
        aws_url = f"http://{options.host}:{moto_port}"
        self._saved_environ = dict(os.environ)
        # S3 clients (the functions' and the API's presigner) address the moto server, so the
        # presigned URLs the API hands out can be fetched by any HTTP client. In this process
        # moto still answers them without the network round trip: MOTO_S3_CUSTOM_ENDPOINTS is
        # read when moto's S3 module is first imported, hence the late imports below.
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "AWS_ENDPOINT_URL_S3": aws_url,
                "MOTO_S3_CUSTOM_ENDPOINTS": aws_url,
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        try:
            self._start(aws_url, moto_port)
        except BaseException:
            self.stop()
            raise
        assert self.endpoints is not None
        return self.endpoints

    def _start(self, aws_url: str, moto_port: int) -> None:
        from moto.server import ThreadedMotoServer

        from rostersync_tools.local.outbox import MailRecorder, Outbox
        from rostersync_tools.local.stack import LocalAws
        from rostersync_tools.local.tenancy import LocalTenancy
        from rostersync_tools.local.watch import SyncWatcher, notifying_repository

        options = self.options
        # Expected noise: the interpreter logs every Choice path that is absent, paramiko every
        # client that hangs up, werkzeug every request.
        for name, level in (
            ("werkzeug", logging.ERROR),
            ("moto.stepfunctions", logging.CRITICAL),
            ("paramiko", logging.CRITICAL),
        ):
            logging.getLogger(name).setLevel(level)
        if not options.function_logs:
            self._saved_stdout = sys.stdout
            sys.stdout = _WithoutMetrics(sys.stdout)
        outbox = Outbox(self.outbox_dir, self._emails)
        watcher = self._watcher = SyncWatcher(self._read_sync, outbox, self.log)
        self._mail = MailRecorder(on_record=watcher.mail_sent)
        mail = self._mail
        options.api_port = options.api_port or free_port(options.host)
        parameters: dict[str, Any] = {
            "SenderEmail": SENDER_EMAIL,
            "QuietPeriodSeconds": options.quiet_seconds,
            "LockRetrySeconds": 1,
            "LogLevel": "INFO" if options.function_logs else "WARNING",
            # The SFTP server is this process's (local/sftp.py), reading the user records.
            "EnableSftpServer": "false",
        }
        if CONSOLE_BASE_URL_PARAMETER in _template_parameters(options.template):
            parameters[CONSOLE_BASE_URL_PARAMETER] = self.console_url  # emails link to this console
        stack = LocalAws(
            options.template,
            parameters=parameters,
            console_sign_in=self._console_sign_in(),
            stack_name="rostersync-local",
            adapt=lambda deps: dataclasses.replace(
                deps,
                mailer=mail.wrap(deps.mailer, deps.config.sender_email),
                repo=notifying_repository(deps.repo, watcher.sync_changed),
            ),
        )
        self.stack = stack.__enter__()
        self._moto = ThreadedMotoServer(ip_address=options.host, port=moto_port, verbose=False)
        self._moto.start()
        # Everything multi-district: onboarding, SFTP accounts, sample sources, pull times.
        self._tenancy = tenancy = LocalTenancy(options, self.log)
        api_deps = self.stack.api_deps
        tenancy.onboard(api_deps())

        self._start_thread("rostersync-events", self._deliver_events)
        fingerprint = self._start_sftp(tenancy.accounts(api_deps()))
        sftp_password = tenancy.passwords[options.sftp_user]
        admin_token, operator_token = self._start_api()
        self._start_thread("rostersync-watch", watcher.run)
        tenancy.start_schedules(api_deps, self._invoke_ingest)
        self._start_thread("rostersync-tick", self._tick)

        assert self._api is not None and self._sftp is not None
        sftp_host, sftp_port = self._sftp.address
        self.endpoints = Endpoints(
            district_id=options.district_id,
            api_url=self._api.url,
            admin_token=admin_token,
            operator_token=operator_token,
            admin_email=options.admin_email,
            sftp_host=sftp_host,
            sftp_port=sftp_port,
            sftp_user=options.sftp_user,
            sftp_password=sftp_password,
            sftp_host_key_fingerprint=fingerprint,
            aws_endpoint_url=aws_url,
            raw_bucket=stack.env("RAW_BUCKET"),
            snapshot_bucket=stack.env("SNAPSHOT_BUCKET"),
            table_name=stack.env("TABLE_NAME"),
            outbox=str(self.outbox_dir.resolve()),
            region=stack.region,
            extra=tenancy.extra(self._sftp, self.admin_token),  # nosec B610 (not Django's QuerySet.extra)
            console_url=self.console_url,
        )
        path = options.workdir / "serve.json"
        path.write_text(self.endpoints.to_json(), encoding="utf-8")
        os.chmod(path, 0o600)

    def stop(self) -> None:
        self._stop.set()
        self._events.put(None)
        if self._tenancy is not None:
            self._tenancy.stop()
            self._tenancy = None
        if self._watcher is not None:
            self._watcher.stop()
        for server in (self._sftp, self._api):
            try:
                if server is not None:
                    server.stop()
            except Exception:  # stopping must go on whatever one piece does
                logging.getLogger(__name__).exception("stopping a local server failed")
        self._sftp = self._api = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self._moto is not None:
            try:
                self._moto.stop()
            finally:
                self._moto = None
        if self.stack is not None:
            try:
                self.stack.__exit__(None, None, None)
            finally:
                self.stack = None
        if self._saved_stdout is not None:
            sys.stdout = self._saved_stdout
            self._saved_stdout = None
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None

    def wait(self) -> None:
        """Block until :meth:`stop` (from another thread) or Ctrl-C."""
        while not self._stop.wait(0.5):
            pass

    def _start_thread(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # ------------------------------------------------------------------ pieces
    def _deps(self) -> Deps:
        assert self.stack is not None
        return self.stack.pipeline_deps()

    def _start_sftp(self, accounts: Mapping[str, SftpAccount]) -> str:
        """SFTP for the districts' users (``accounts``: looked up at each login); the host key's
        fingerprint."""
        import boto3

        from rostersync_tools.local.sftp import InboxSftpServer, S3Inbox, load_or_create_host_key

        options = self.options
        assert self.stack is not None
        host_key = load_or_create_host_key(options.workdir / "sftp_host_rsa_key")
        s3 = boto3.client("s3", region_name=self.stack.region)
        inbox = S3Inbox(s3, self.stack.env("RAW_BUCKET"), lambda bucket, key: self._events.put((bucket, key)))
        self._sftp = InboxSftpServer(
            options.host, options.sftp_port, host_key=host_key, accounts=accounts, inbox=inbox
        ).start()
        return str(host_key.fingerprint)

    def _invoke_ingest(self, event: dict[str, Any]) -> None:
        assert self.stack is not None
        with self._lock:
            self.stack.invoke("IngestFunction", event)

    def admin_token(self, district_id: str, email: str) -> str:
        """A bearer token of a district admin of ``district_id`` for the local API."""
        from rostersync_tools.local.apigw import issue_token
        from rostersync_tools.local.signin import api_token_claims

        claims = api_token_claims(email, "district_admin", district_id)
        return issue_token(self._secret, claims, ttl_seconds=TOKEN_TTL_SECONDS)

    def _start_api(self) -> tuple[str, str]:
        from rostersync.api import openapi_document
        from rostersync.console import is_console_path
        from rostersync_tools.local.apigw import bearer_claims, issue_token, serve_api
        from rostersync_tools.local.signin import PATH as SIGN_IN_PATH
        from rostersync_tools.local.signin import api_token_claims
        from rostersync_tools.local.stack import InvocationError

        options = self.options
        stack = self.stack
        assert stack is not None
        secret = self._secret
        admin = api_token_claims(options.admin_email, "district_admin", options.district_id)
        operator = api_token_claims(OPERATOR_EMAIL, "operator")

        def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
            if event["path"] == SIGN_IN_PATH:
                return self._console_sign_in().handle(event)
            if is_console_path(event["path"]):
                # This server has no stage segment in its URLs (API Gateway's would be /v1).
                event["requestContext"]["path"] = event["path"]
            try:
                result: dict[str, Any] = stack.invoke("ApiFunction", event)
            except InvocationError as exc:
                request = f"{safe(event['httpMethod'])} {safe(event['path'])}"
                self.log(f"[red]API {request} failed:[/red] {safe(exc)}")
                body = {"error": "internal", "message": "the API function failed; see the serve output"}
                return {
                    "statusCode": 502,
                    "headers": {"Content-Type": "application/json"},
                    "body": json.dumps(body),
                }
            finally:
                if event["httpMethod"] not in _READ_ONLY_METHODS and self._watcher is not None:
                    self._watcher.recheck()
            return result

        self._api = serve_api(
            options.host,
            options.api_port,
            handler=handler,
            claims_for=bearer_claims(secret),
            resources=list(openapi_document()["paths"]),
            lock=self._lock,
            public=lambda path: path == SIGN_IN_PATH or is_console_path(path),
        ).start()
        return (
            issue_token(secret, admin, ttl_seconds=TOKEN_TTL_SECONDS),
            issue_token(secret, operator, ttl_seconds=TOKEN_TTL_SECONDS),
        )

    # ------------------------------------------------------------------ the console
    @property
    def console_url(self) -> str:
        """The admin console's base URL (its pages: ``<base>/districts/<d>/syncs/<sync_id>``)."""
        return f"http://{self.options.host}:{self.options.api_port}/console"

    def _console_sign_in(self) -> LocalSignIn:
        """The Hosted UI stand-in: signs in the operator or any district's admin, no password."""
        from rostersync_tools.local.signin import LocalSignIn

        if self._sign_in is None:
            self._sign_in = LocalSignIn(self._secret, self._local_users, ttl_seconds=TOKEN_TTL_SECONDS)
        return self._sign_in

    def _local_users(self) -> list[LocalUser]:
        """The operator, then each onboarded district's admins (claims as Cognito's would be)."""
        from rostersync_tools.local.signin import local_users

        return local_users(self.stack, OPERATOR_EMAIL)

    # ------------------------------------------------------------------ background work
    def _deliver_events(self) -> None:
        """S3 → EventBridge → IngestFunction for every object an SFTP upload created, in order.
        A failure with one object is logged and the next is delivered."""
        while True:
            item = self._events.get()
            if item is None or self._stop.is_set() or self.stack is None:
                return
            try:
                self._deliver(*item)
            except Exception as exc:
                if self._stop.is_set():
                    return
                logging.getLogger(__name__).exception("delivering %r failed", item)
                self.log(f"[red]{safe(item[1])} received; ingest failed:[/red] {safe(exc)}")

    def _tick(self) -> None:
        """Run the scheduled tick (pause ends, reminders, missing-file holds, hold expiry) as
        TickSchedule does on AWS; a failed tick is logged and the next one runs."""
        assert self.stack is not None
        while not self._stop.wait(TICK_SECONDS):
            try:
                with self._lock:
                    self.stack.tick()
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.log(f"[yellow]tick: {safe(exc)}[/yellow]")

    def _deliver(self, bucket: str, key: str) -> None:
        from rostersync_tools.local.stack import LocalStackError

        assert self.stack is not None
        name = key.split("/", 2)[-1]
        district = key.split("/")[1] if key.count("/") >= 2 else "?"
        try:
            with self._lock:
                delivery = self.stack.deliver_object_created(bucket, key)
        except LocalStackError as exc:
            where = f"{safe(district)}: {safe(name)}"
            self.log(f"[red]{where} received, but the event was not delivered:[/red] {safe(exc)}")
            return
        result = delivery.results.get("IngestFunction") or {}
        sync_id = result.get("sync_id") if isinstance(result, dict) else None
        quiet = self.options.quiet_seconds
        after = f" (sync {safe(sync_id)}; processed after {quiet}s of quiet)" if sync_id else ""
        self.log(f"[cyan]{safe(district)}[/cyan] ⇢ {safe(name)} received over SFTP{after}")

    def _read_sync(self, district_id: str, sync_id: str) -> SyncRecord | None:
        """One sync record, as the API reads it (the watcher's one read per change)."""
        from rostersync_tools.local.routing import serialized

        assert self.stack is not None
        with serialized():
            return self.stack.api_deps().repo.get_sync(district_id, sync_id)

    def _emails(self) -> list[OutboxEmail]:
        return self._mail.emails() if self._mail is not None else []


def _guarded(log: Log) -> Log:
    """``log`` that never raises: a line it cannot print (a markup error that escaped
    :func:`~rostersync_tools.render.safe`) is printed escaped, and failing that, logged."""

    def guarded(line: str) -> None:
        try:
            log(line)
        except Exception:
            try:
                log(safe(line))
            except Exception:
                logging.getLogger(__name__).exception("could not print a serve line: %r", line)

    return guarded


def _template_parameters(template: Path) -> set[str]:
    from rostersync_tools.local.template import load_template

    return set((load_template(template).get("Parameters") or {}).keys())


class _WithoutMetrics:
    """stdout without the functions' CloudWatch metrics (EMF JSON documents Powertools prints
    after each invocation; on AWS they go to CloudWatch, here they would bury the progress
    lines). Each document is one ``write`` of its own, followed by the newline's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._dropped = False

    def write(self, text: str) -> int:
        if text.startswith('{"_aws"') or (self._dropped and text == "\n"):
            self._dropped = not self._dropped
            return len(text)
        self._dropped = False
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def timestamped(log: Log) -> Log:
    """``log`` with the time (HH:MM:SS, local) before each message."""

    def stamped(line: str) -> None:
        log(f"[dim]{datetime.now().astimezone():%H:%M:%S}[/dim] {line}")

    return stamped
