"""An SMTP sink for kith's integration tests, on aiosmtpd (tests/smtp/requirements.txt).

Run it with the virtual environment scripts/test provisions:

    tests/smtp/.venv/bin/python tests/smtp/server.py --maildir DIR [options]

It listens on 127.0.0.1 only (never another address). Once listening it prints exactly
one line to stdout, `ready 127.0.0.1 PORT`, with the real port, and flushes. It then
serves until SIGTERM or SIGINT, or until its stdin reaches end of file, so a harness
that dies takes the server with it: a harness must give it a pipe as stdin and keep
that pipe open (stdin from /dev/null makes it exit at once).

Every message it accepts is stored as one file in the Maildir DIR (new/), as the raw
bytes received (CRLF line endings) with two headers put in front: X-MailFrom (the
envelope sender) and X-RcptTo (the envelope recipients, comma-separated). It logs one
line to stderr per message: `stored PATH from SENDER to RCPTS`, `refused CODE from
SENDER to RCPTS` or `stalling from SENDER to RCPTS`.

Options:
  --maildir DIR          where accepted messages go (required; created if missing)
  --port N               port to listen on; 0 (the default) picks a free one
  --tls-cert FILE        certificate (PEM) to offer STARTTLS with; needs --tls-key
  --tls-key FILE         its private key (PEM)
  --require-starttls     refuse commands other than EHLO/HELO/NOOP/QUIT/STARTTLS before
                         STARTTLS (aiosmtpd's `530 Must issue a STARTTLS command first`)
  --smtps                implicit TLS (SMTPS): the whole connection is TLS with the
                         certificate and key, and no STARTTLS is offered
  --fail-first N         answer the DATA of the first N messages (counted over the
                         server's life, across connections) with --fail-code
  --fail-code C          the code for --fail-first, e.g. 451 (transient) or 550
                         (permanent): `451 4.3.0 try again later (test)`
  --fail-always C        answer every DATA with C
  --stall-first N        never answer the DATA of the first N messages, so the client
                         hangs mid-send (aiosmtpd drops the connection after its 300 s
                         idle timeout); it comes before --fail-first for those messages
  --auth USER:PASS       require AUTH (PLAIN or LOGIN) with these credentials before
                         MAIL; over TLS when TLS is configured, else in the clear
"""

import argparse
import asyncio
import logging
import mailbox
import os
import signal
import socket
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


def log(line):
    print(line, file=sys.stderr, flush=True)


class Sink:
    """The aiosmtpd handler: stores, refuses or stalls each message's DATA."""

    def __init__(self, maildir, fail_first=0, fail_code=None, fail_always=None, stall_first=0):
        # mailbox.Maildir(create=True) makes the folders only when DIR is missing, so an
        # existing empty DIR (a fresh temp dir) would lack them: make them here.
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        self.dir = maildir
        self.maildir = mailbox.Maildir(maildir, create=True)
        self.fail_first, self.fail_code = fail_first, fail_code
        self.fail_always = fail_always
        self.stall_first = stall_first
        self.count = 0  # messages whose DATA came in; all handlers run on one event loop

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        rcpts = ", ".join(envelope.rcpt_tos)
        who = f"from {envelope.mail_from} to {rcpts}"
        if self.count <= self.stall_first:
            log(f"stalling {who}")
            await asyncio.Event().wait()  # forever, until the connection goes
        code = self.fail_always or (self.fail_code if self.count <= self.fail_first else None)
        if code:
            log(f"refused {code} {who}")
            if code < 500:
                return f"{code} 4.3.0 try again later (test)"
            return f"{code} 5.3.0 message refused (test)"
        head = f"X-MailFrom: {envelope.mail_from}\r\nX-RcptTo: {rcpts}\r\n".encode()
        key = self.maildir.add(head + envelope.original_content)
        log(f"stored {os.path.join(self.dir, 'new', key)} {who}")
        return "250 OK"


class SocketController(Controller):
    """A Controller serving on a socket bound beforehand, so port 0 gives a real port."""

    def __init__(self, handler, sock, **kwargs):
        self.sock = sock
        super().__init__(handler, hostname=HOST, port=sock.getsockname()[1], **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self.sock, ssl=self.ssl_context)


def code(text):
    value = int(text)
    if not 400 <= value <= 599:
        raise argparse.ArgumentTypeError("a 4xx or 5xx code")
    return value


def main():
    p = argparse.ArgumentParser(description="SMTP sink for tests (see the top of this file)")
    p.add_argument("--maildir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--smtps", action="store_true")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-code", type=code)
    p.add_argument("--fail-always", type=code)
    p.add_argument("--stall-first", type=int, default=0)
    p.add_argument("--auth", metavar="USER:PASS")
    a = p.parse_args()
    if bool(a.tls_cert) != bool(a.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if (a.smtps or a.require_starttls) and not a.tls_cert:
        p.error("--smtps and --require-starttls need --tls-cert and --tls-key")
    if a.smtps and a.require_starttls:
        p.error("--require-starttls means STARTTLS, --smtps means implicit TLS: pick one")
    if a.fail_first and not a.fail_code:
        p.error("--fail-first needs --fail-code")
    if a.auth and ":" not in a.auth:
        p.error("--auth takes USER:PASS")

    smtp = {}  # keyword arguments for aiosmtpd.smtp.SMTP
    ssl_context = None
    if a.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.tls_cert, a.tls_key)
        if a.smtps:
            ssl_context = tls
        else:
            smtp.update(tls_context=tls, require_starttls=a.require_starttls)
    if a.auth:
        user, password = (s.encode() for s in a.auth.split(":", 1))

        def authenticator(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (user, password)
            # handled=False: aiosmtpd itself answers a failure (535); the default True
            # would leave the client waiting for a reply that never comes.
            return AuthResult(success=ok, handled=False)

        # aiosmtpd's SMTP sees only STARTTLS as TLS: with SMTPS or no TLS at all, AUTH
        # must be allowed without it.
        smtp.update(authenticator=authenticator, auth_required=True,
                    auth_require_tls=bool(a.tls_cert) and not a.smtps)

    # aiosmtpd warns on every connection about AUTH without TLS and about its own use of
    # the deprecated Session.login_data: keep stderr to this script's lines and errors.
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    sink = Sink(a.maildir, a.fail_first, a.fail_code, a.fail_always, a.stall_first)
    sock = socket.create_server((HOST, a.port))
    controller = SocketController(sink, sock, ssl_context=ssl_context, **smtp)
    controller.start()
    print(f"ready {HOST} {controller.port}", flush=True)

    def stop(signum, frame):
        raise SystemExit(0)

    # Set for SIGINT too: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        # Controller.stop may wait on a client that never hangs up (--stall-first; newer
        # Pythons' Server.wait_closed waits for connections): give it a few seconds,
        # then exit anyway, as the event loop's thread is a daemon.
        stopper = threading.Thread(target=controller.stop, daemon=True)
        stopper.start()
        stopper.join(5)


if __name__ == "__main__":
    main()
