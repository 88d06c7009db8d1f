#!/usr/bin/python3
"""smtpd.py - a recording SMTP server for dma's integration tests.

Built on aiosmtpd's SMTP protocol class (Debian's python3-aiosmtpd); the
fault points aiosmtpd cannot express are overridden methods of a subclass.
Run with /usr/bin/python3.  Prints "READY <port>" once listening.

Everything a session does is recorded in --dir:
  session-NNNN.raw   the exact bytes received (plaintext, and decrypted
                     application data after TLS), appended as they arrive
  session-NNNN.json  rewritten after every command: commands (AUTH
                     payloads omitted), EHLO/HELO name, TLS state and
                     version, SNI, client certificate subject (as
                     "commonName=x,organizationName=y"), AUTH
                     mechanism/login/result, faults applied, QUIT seen
  msg-NNNN.json      one per DATA transaction: envelope (MAIL FROM and
                     its parameters, RCPT TOs), session, TLS, AUTH, the
                     reply given and whether the message was accepted
  msg-NNNN.eml       the message as received (dot-unstuffed, CRLF kept)
  session-NNNN.reads one line per read from the connection outside DATA
                     (under 4096 bytes): its lines, cut to 12 bytes and
                     joined with " | ", e.g. "MAIL FROM:<a | RCPT TO:<b@ |
                     DATA"; a pipelined command group is one line

Session behaviour: --pipelining advertises PIPELINING; --rcpt-reply
ADDR=REPLY (repeatable) answers RCPT TO:<ADDR> with REPLY; --rcpt-max N
answers "452 4.5.3" to the RCPTs of a transaction after N accepted ones;
--close-after N answers "421" to the MAIL after N messages of a session
and closes it.

AUTH: --auth lists the mechanisms offered, of PLAIN, LOGIN, CRAM-MD5,
SCRAM-SHA-256, SCRAM-SHA-1 (checked against --user/--password;
--scram-bad-signature sends a wrong server signature, --scram-no-final
none: 235 right after the proof), XOAUTH2 and
OAUTHBEARER (checked against --user/--token; a wrong token or
--oauth-error gets the RFC 7628 error challenge, the client's answer is
recorded as "oauth_error_answer" in hex, then --oauth-fail-reply).

Fault injection: --fault STAGE=ACTION (repeatable), STAGE one of greeting,
ehlo, helo, starttls, auth, mail, rcpt, data, eod, quit; ACTION a reply
("451 4.3.0 try later"), "drop" (close the connection) or "stall" (never
answer).  An "auth" reply fault is given after the credentials were
exchanged.  --fault-once applies faults to the first session only.

Slowness: --delay STAGE=SECS (repeatable, same stages) waits SECS before
handling STAGE (for eod: before the message is recorded and answered);
SIGUSR1 ends every delay, those in progress and those to come.

Internationalised mail: --smtputf8 advertises SMTPUTF8 (RFC 6531) and
takes UTF-8 in commands; without it a command with a byte >= 0x80 gets
"500 Error: strict ASCII mode" and MAIL FROM:<...> SMTPUTF8 gets 501.

Concurrency: --max-sessions N answers a connection that arrives while N
sessions are open "421 4.7.0 Too many concurrent SMTP connections" and
closes it (its session record has "refused": true and is not counted as
open).
"""

import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, MISSING

# aiosmtpd warns on every AUTH about its own deprecated login_data.
logging.getLogger("mail.log").setLevel(logging.ERROR)

STAGES = ("greeting", "ehlo", "helo", "starttls", "auth", "mail", "rcpt",
          "data", "eod", "quit")
MECHS = ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256", "SCRAM-SHA-1",
         "XOAUTH2", "OAUTHBEARER")


class State:
    """Server-wide settings and counters."""

    def __init__(self, args):
        self.args = args
        self.nsess = 0
        self.nmsg = 0
        self.faults = {}
        for f in args.fault:
            stage, sep, action = f.partition("=")
            if not sep or stage not in STAGES or not action:
                sys.exit(f"smtpd.py: bad --fault {f!r}")
            self.faults[stage] = action
        self.delays = {}
        for f in args.delay:
            stage, sep, secs = f.partition("=")
            try:
                self.delays[stage] = float(secs)
            except ValueError:
                stage = None
            if not sep or stage not in STAGES:
                sys.exit(f"smtpd.py: bad --delay {f!r}")
        self.fast = asyncio.Event()
        self.nopen = 0
        self.mechs = []
        if args.auth:
            for m in args.auth.split(","):
                m = m.strip().upper()
                if m not in MECHS:
                    sys.exit(f"smtpd.py: unknown mechanism {m}")
                self.mechs.append(m)

    def path(self, name):
        return os.path.join(self.args.dir, name)


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def subject_str(cert):
    if not cert or "subject" not in cert:
        return None
    parts = []
    for rdn in cert["subject"]:
        for k, v in rdn:
            parts.append(f"{k}={v}")
    return ",".join(parts)


class Handler:
    """aiosmtpd handler hooks: EHLO keyword edits, DATA recording, AUTH."""

    def __init__(self, st):
        self.st = st

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        a = self.st.args
        session.host_name = hostname
        out = []
        for r in responses:
            kw = r[4:].split(" ")[0].upper()
            if kw == "8BITMIME" and a.eightbitmime == "no":
                continue
            if kw == "STARTTLS" and a.advertise_starttls == "no":
                continue
            if kw == "AUTH":
                if not self.st.mechs or (a.auth_require_tls and not server.rec["tls"]):
                    continue
                r = r[:4] + ("AUTH=" if a.auth_equals else "AUTH ") + \
                    " ".join(self.st.mechs)
            out.append(r)
        if a.pipelining:
            out.append("250-PIPELINING")
        # the last line must be "250 ", the others "250-"
        out = [("250-" if i < len(out) - 1 else "250 ") + r[4:]
               for i, r in enumerate(out)]
        return out

    async def handle_DATA(self, server, session, envelope):
        st = self.st
        await server.delay("eod")
        st.nmsg += 1
        n = st.nmsg
        with open(st.path(f"msg-{n:04d}.eml"), "wb") as f:
            f.write(envelope.original_content)
        reply = "250 2.0.0 OK queued as %d" % n
        action = server.fault_for("eod")
        if action not in (None, "drop", "stall"):
            reply = action
            server.rec["faults"].append("eod")
        server.rec["messages"].append(n)
        rec = {
            "session": server.sid,
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "rcpt_options": envelope.rcpt_options,
            "size": len(envelope.original_content),
            "data_file": st.path(f"msg-{n:04d}.eml"),
            "tls": server.rec["tls"],
            "tls_version": server.rec["tls_version"],
            "client_cert": server.rec["client_cert"],
            "auth_mechanism": server.rec["auth_mechanism"],
            "auth_login": server.rec["auth_login"],
            "authenticated": server.rec["authenticated"],
            "ehlo": server.rec["ehlo"] or server.rec["helo"],
            "reply": reply if action not in ("drop", "stall") else action,
            "accepted": action is None,
        }
        write_json(st.path(f"msg-{n:04d}.json"), rec)
        server.save()
        if action in ("drop", "stall"):
            await server.do_fault("eod", action)
        return reply

    async def auth_CRAM__MD5(self, server, args):
        """RFC 2195, which aiosmtpd lacks; registered as CRAM-MD5."""
        if len(args) > 1:
            await server.push("501 5.5.4 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        chal = f"<{secrets.token_hex(8)}.{int(time.time())}@smtpd.test>".encode()
        resp = await server.challenge_auth(chal)
        if resp is MISSING:
            return AuthResult(success=False, handled=True)
        login, _, digest = resp.partition(b" ")
        a = self.st.args
        want = hmac.new(a.password.encode(), chal, hashlib.md5).hexdigest()
        good = login.decode("utf-8", "replace") == a.user and \
            hmac.compare_digest(digest, want.encode())
        return server.record_auth("CRAM-MD5", login, good)

    # -- SCRAM (RFC 5802, RFC 7677) and OAuth (RFC 7628, XOAUTH2) ---------
    async def auth_SCRAM__SHA__256(self, server, args):
        """A real SCRAM-SHA-256 server; --scram-bad-signature lies."""
        return await self.scram(server, args, "SCRAM-SHA-256", "sha256")

    async def auth_SCRAM__SHA__1(self, server, args):
        return await self.scram(server, args, "SCRAM-SHA-1", "sha1")

    async def initial(self, server, args):
        """The initial response, or the answer to an empty 334."""
        if len(args) > 1:
            try:
                return base64.b64decode(args[1], validate=True)
            except (binascii.Error, ValueError):
                await server.push("501 5.5.2 Can't decode base64")
                return MISSING
        return await server.challenge_auth(b"")

    async def scram(self, server, args, mech, hname):
        a = self.st.args
        cf = await self.initial(server, args)
        if cf is MISSING:
            return AuthResult(success=False, handled=True)
        cf = cf.decode("utf-8", "replace")
        if not cf.startswith("n,,"):
            await server.push("501 5.5.2 channel binding and authzid not supported")
            return AuthResult(success=False, handled=True)
        bare = cf[3:]
        attrs = dict(x.split("=", 1) for x in bare.split(",") if "=" in x)
        login = attrs.get("n", "").replace("=2C", ",").replace("=3D", "=")
        server.rec["auth_mechanism"] = mech
        server.rec["auth_login"] = login
        server.rec["scram_client_first"] = cf
        cnonce = attrs.get("r", "")
        snonce = cnonce + secrets.token_urlsafe(18)
        salt = os.urandom(16)
        it = 4096
        sf = f"r={snonce},s={base64.b64encode(salt).decode()},i={it}"
        resp = await server.challenge_auth(sf.encode())
        if resp is MISSING:
            return AuthResult(success=False, handled=True)
        without, _, proof = resp.decode("utf-8", "replace").rpartition(",p=")
        if without != f"c=biws,r={snonce}":
            server.rec["scram_error"] = "bad client-final-message"
            return server.record_auth(mech, login.encode(), False)
        salted = hashlib.pbkdf2_hmac(hname, a.password.encode(), salt, it)
        ckey = hmac.new(salted, b"Client Key", hname).digest()
        stored = hashlib.new(hname, ckey).digest()
        amsg = f"{bare},{sf},{without}".encode()
        csig = hmac.new(stored, amsg, hname).digest()
        try:
            p = base64.b64decode(proof, validate=True)
        except (binascii.Error, ValueError):
            p = b""
        good = len(p) == len(csig) and login == a.user and hmac.compare_digest(
            hashlib.new(hname, bytes(x ^ y for x, y in zip(p, csig))).digest(), stored)
        if not good:
            return server.record_auth(mech, login.encode(), False)
        if a.scram_no_final:
            return server.record_auth(mech, login.encode(), True)
        skey = hmac.new(salted, b"Server Key", hname).digest()
        ssig = hmac.new(skey, amsg, hname).digest()
        if a.scram_bad_signature:
            ssig = bytes(x ^ 1 for x in ssig)
        resp = await server.challenge_auth(b"v=" + base64.b64encode(ssig))
        if resp is MISSING:
            server.rec["scram_aborted"] = True
            server.save()
            return AuthResult(success=False, handled=True)
        if resp != b"":
            await server.push("501 5.5.2 expected an empty response")
            return AuthResult(success=False, handled=True)
        return server.record_auth(mech, login.encode(), True)

    async def auth_XOAUTH2(self, server, args):
        return await self.oauth(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server, args):
        return await self.oauth(server, args, "OAUTHBEARER")

    async def oauth(self, server, args, mech):
        """Check --token; a wrong one (or --oauth-error) gets the error
        challenge, the client's answer to it is recorded (hex), then
        --oauth-fail-reply."""
        a = self.st.args
        data = await self.initial(server, args)
        if data is MISSING:
            return AuthResult(success=False, handled=True)
        parts = data.split(b"\x01")
        kv = {}
        login = b""
        if mech == "OAUTHBEARER":
            gs2 = parts[0].split(b",")
            if len(gs2) >= 2 and gs2[1].startswith(b"a="):
                login = gs2[1][2:].replace(b"=2C", b",").replace(b"=3D", b"=")
        for part in parts[1 if mech == "OAUTHBEARER" else 0:]:
            k, sep, v = part.partition(b"=")
            if sep:
                kv[k.decode("latin-1")] = v.decode("latin-1")
        if mech == "XOAUTH2":
            login = kv.get("user", "").encode("latin-1")
        server.rec["oauth_host"] = kv.get("host")
        server.rec["oauth_port"] = kv.get("port")
        server.rec["oauth_wellformed"] = data.endswith(b"\x01\x01")
        good = kv.get("auth") == "Bearer " + (a.token or "") and a.token and \
            login.decode("utf-8", "replace") == a.user and not a.oauth_error
        if good:
            return server.record_auth(mech, login, True)
        server.rec["auth_mechanism"] = mech
        server.rec["auth_login"] = login.decode("utf-8", "replace")
        server.save()
        if mech == "OAUTHBEARER":
            err = {"status": "invalid_token", "scope": "mail", "schemes": "bearer"}
        else:
            err = {"status": "401", "schemes": "bearer", "scope": "mail"}
        resp = await server.challenge_auth(json.dumps(err).encode())
        server.rec["oauth_error_answer"] = "*" if resp is MISSING else resp.hex()
        server.save()
        if resp is MISSING:
            return AuthResult(success=False, handled=True)
        await server.push(a.oauth_fail_reply)
        return AuthResult(success=False, handled=True)

    def authenticate(self, server, session, envelope, mechanism, data):
        a = self.st.args
        good = data.login.decode("utf-8", "replace") == a.user and \
            data.password.decode("utf-8", "replace") == a.password
        return server.record_auth(mechanism, data.login, good)


class RecSMTP(SMTP):
    """aiosmtpd's SMTP with recording and fault injection."""

    def __init__(self, handler, st, **kw):
        self.st = st
        self.sid = None
        self.raw = None
        self.rec = None
        self.refused = False
        super().__init__(handler, **kw)

    # -- recording -------------------------------------------------------
    def connection_made(self, transport):
        first = self.sid is None
        super().connection_made(transport)
        if first:
            mx = self.st.args.max_sessions
            if mx and self.st.nopen >= mx:
                self.refused = True
            else:
                self.st.nopen += 1
            self.st.nsess += 1
            self.sid = self.st.nsess
            self.raw = open(self.st.path(f"session-{self.sid:04d}.raw"), "wb")
            self.rec = {
                "session": self.sid, "peer": list(self.session.peer or ()),
                "commands": [], "ehlo": None, "helo": None,
                "tls": False, "tls_version": None, "tls_cipher": None,
                "sni": None, "client_cert": None,
                "auth_mechanism": None, "auth_login": None,
                "authenticated": False, "faults": [], "messages": [],
                "quit": False, "closed": False, "refused": self.refused,
            }
            sslobj = transport.get_extra_info("ssl_object")
            if sslobj is not None:
                self.note_tls(sslobj)
        elif self._tls_protocol is not None:
            self.note_tls(self._tls_protocol._extra.get("ssl_object"))
        self.save()

    def note_tls(self, sslobj):
        if sslobj is None:
            return
        self.rec["tls"] = True
        self.rec["tls_version"] = sslobj.version()
        c = sslobj.cipher()
        self.rec["tls_cipher"] = c[0] if c else None
        self.rec["sni"] = getattr(sslobj, "sni_name", None) or \
            self.st.sni.get(id(sslobj))
        try:
            self.rec["client_cert"] = subject_str(sslobj.getpeercert())
        except ValueError:
            pass

    def data_received(self, data):
        if self.raw is not None:
            self.raw.write(data)
            self.raw.flush()
            if len(data) < 4096 and not self.in_data():
                lines = [x[:12].decode("latin-1") for x in data.split(b"\r\n") if x]
                with open(self.st.path(f"session-{self.sid:04d}.reads"), "a") as f:
                    f.write(" | ".join(lines) + "\n")
        super().data_received(data)

    def in_data(self):
        """Whether the bytes now arriving are message data."""
        return bool(self.rec and self.rec.get("in_data"))

    def connection_lost(self, exc):
        if self.rec is not None and not self.rec["closed"]:
            self.rec["closed"] = True
            if not self.refused:
                self.st.nopen -= 1
            self.save()
            self.raw.close()
        super().connection_lost(exc)

    def save(self):
        if self.rec is not None:
            write_json(self.st.path(f"session-{self.sid:04d}.json"), self.rec)

    def note(self, cmd):
        self.rec["commands"].append(cmd)
        self.save()

    def record_auth(self, mech, login, good):
        self.rec["auth_mechanism"] = mech
        self.rec["auth_login"] = login.decode("utf-8", "replace")
        action = self.fault_for("auth")
        if action is not None:
            self.rec["faults"].append("auth")
            self.save()
            return AuthResult(success=False, handled=False, message=action)
        self.rec["authenticated"] = bool(good)
        self.save()
        return AuthResult(success=bool(good), handled=False)

    # -- faults ------------------------------------------------------------
    def fault_for(self, stage):
        action = self.st.faults.get(stage)
        if action is None or (self.st.args.fault_once and self.sid != 1):
            return None
        return action

    async def do_fault(self, stage, action):
        self.rec["faults"].append(stage)
        self.save()
        if action == "drop":
            self.transport.close()
        elif action == "stall":
            await asyncio.sleep(24 * 3600)
        else:
            await self.push(action)

    async def fault(self, stage):
        """Apply the fault of stage, if any; True when it replaced the reply."""
        action = self.fault_for(stage)
        if action is None:
            return False
        await self.do_fault(stage, action)
        return True

    async def delay(self, stage):
        """Wait the --delay of stage, unless SIGUSR1 ended the delays."""
        secs = self.st.delays.get(stage)
        if secs is None or self.st.fast.is_set():
            return
        self.rec["delays"] = self.rec.get("delays", []) + [stage]
        self.save()
        try:
            await asyncio.wait_for(self.st.fast.wait(), secs)
        except asyncio.TimeoutError:
            pass

    async def _handle_client(self):
        if self.refused:
            await self.push("421 4.7.0 Too many concurrent SMTP connections")
            self.transport.close()
            return
        await self.delay("greeting")
        action = self.fault_for("greeting")
        if action is None:
            return await super()._handle_client()
        await self.do_fault("greeting", action)
        # After a refusing greeting only QUIT is honoured (RFC 5321 3.1).
        while self.transport is not None:
            try:
                line = await self._reader.readline()
            except (ValueError, ConnectionError):
                break
            if not line:
                break
            cmd = line.strip().decode("ascii", "replace")
            self.note(cmd)
            if cmd.upper() == "QUIT":
                self.rec["quit"] = True
                self.save()
                await self.push("221 2.0.0 Bye")
                self.transport.close()
                break
            await self.push("503 5.5.1 Bad sequence of commands")

    # -- commands ----------------------------------------------------------
    async def smtp_EHLO(self, hostname):
        self.note(f"EHLO {hostname}")
        self.rec["ehlo"] = hostname
        await self.delay("ehlo")
        if await self.fault("ehlo"):
            return
        if self.st.args.no_ehlo:
            await self.push("502 5.5.2 Error: command not recognized")
            return
        mode = self.st.args.hostile_ehlo
        if mode:
            await self.hostile(mode)
            return
        await super().smtp_EHLO(hostname)

    async def hostile(self, mode):
        w = self._writer
        if mode == "endless":
            i = 0
            while self.transport is not None and i < 1000000:
                w.write(b"250-endless line %d\r\n" % i)
                i += 1
                if i % 100 == 0:
                    try:
                        await w.drain()
                    except (ConnectionError, OSError):
                        return
            return
        if mode == "overlong":
            w.write(b"250-smtpd.test\r\n250-" + b"A" * 5000 + b"\r\n250 8BITMIME\r\n")
        elif mode == "nul":
            w.write(b"250-smtpd.test \x00hello\r\n250-X\x00Y\r\n250 8BITMIME\r\n")
        elif mode == "nulcode":
            w.write(b"250-smtpd.test\r\n2\x0050 8BITMIME\r\n")
        elif mode == "crlf":
            w.write(b"250-smtpd.test\rINJECT\r\n250-A\r\r\n250 8BITMIME\r\n")
        elif mode == "mixed":
            w.write(b"250-smtpd.test\r\n220 8BITMIME\r\n")
        elif mode == "garbage":
            w.write(b"hello there\r\n")
        await w.drain()

    async def smtp_HELO(self, hostname):
        self.note(f"HELO {hostname}")
        self.rec["helo"] = hostname
        await self.delay("helo")
        if await self.fault("helo"):
            return
        await super().smtp_HELO(hostname)

    async def smtp_STARTTLS(self, arg):
        self.note("STARTTLS")
        await self.delay("starttls")
        if await self.fault("starttls"):
            return
        if self.st.args.starttls_inject:
            # A reply pipelined behind the 220, before the handshake: a
            # client must not read it as if it came through TLS.
            self._writer.write(b"220 2.0.0 Ready to start TLS\r\n"
                               b"250 2.0.0 injected\r\n")
            await self._writer.drain()
            return
        try:
            await super().smtp_STARTTLS(arg)
        except Exception:
            self.rec["tls_error"] = True
            self.save()
            raise

    async def smtp_AUTH(self, arg):
        self.note("AUTH " + (arg or "").split(" ")[0])
        await self.delay("auth")
        action = self.fault_for("auth")
        if action in ("drop", "stall"):
            await self.do_fault("auth", action)
            return
        if self.st.args.auth_require_tls and not self.rec["tls"]:
            await self.push("538 5.7.11 Encryption required")
            return
        await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg):
        self.note(f"MAIL {arg}")
        await self.delay("mail")
        if await self.fault("mail"):
            return
        n = self.st.args.close_after
        if n and len(self.rec["messages"]) >= n:
            self.rec["faults"].append("close-after")
            self.save()
            await self.push("421 4.7.0 enough messages on this connection")
            self.transport.close()
            return
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        self.note(f"RCPT {arg}")
        await self.delay("rcpt")
        if await self.fault("rcpt"):
            return
        a = self.st.args
        addr = (arg or "").partition("<")[2].partition(">")[0].lower()
        for r in a.rcpt_reply:
            who, sep, reply = r.partition("=")
            if sep and who.lower() == addr and self.envelope.mail_from is not None:
                await self.push(reply)
                return
        if a.rcpt_max and self.envelope.mail_from is not None and \
                len(self.envelope.rcpt_tos) >= a.rcpt_max:
            await self.push("452 4.5.3 too many recipients")
            return
        await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg):
        self.note("DATA")
        await self.delay("data")
        if await self.fault("data"):
            return
        self.rec["in_data"] = bool(self.envelope.rcpt_tos)
        try:
            await super().smtp_DATA(arg)
        finally:
            self.rec["in_data"] = False

    async def smtp_RSET(self, arg):
        self.note("RSET")
        await super().smtp_RSET(arg)

    async def smtp_NOOP(self, arg):
        self.note("NOOP")
        await super().smtp_NOOP(arg)

    async def smtp_QUIT(self, arg):
        self.note("QUIT")
        self.rec["quit"] = True
        await self.delay("quit")
        self.save()
        action = self.fault_for("quit")
        if action is None:
            await super().smtp_QUIT(arg)
            return
        await self.do_fault("quit", action)
        if action != "drop" and self.transport is not None:
            self.transport.close()


def make_context(args, st):
    if not args.cert:
        sys.exit("smtpd.py: --tls needs --cert (and --key)")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key or None)
    if args.require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.require_client_cert)
    elif args.request_client_cert:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(args.request_client_cert)

    def sni_cb(sslobj, name, _ctx):
        st.sni[id(sslobj)] = name
        try:
            sslobj.sni_name = name
        except AttributeError:
            pass
        return None
    ctx.sni_callback = sni_cb
    return ctx


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True, help="record directory")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--hostname", default="smtpd.test", help="name in greeting/EHLO")
    p.add_argument("--tls", choices=("none", "starttls", "implicit"), default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--require-client-cert", metavar="CA")
    p.add_argument("--request-client-cert", metavar="CA")
    p.add_argument("--auth", default="", help="mechanisms, e.g. PLAIN,LOGIN,CRAM-MD5")
    p.add_argument("--auth-equals", action="store_true",
                   help="advertise AUTH=... instead of AUTH ...")
    p.add_argument("--auth-require-tls", action="store_true",
                   help="advertise/accept AUTH only under TLS")
    p.add_argument("--user", default="user")
    p.add_argument("--password", default="secret")
    p.add_argument("--scram-bad-signature", action="store_true",
                   help="SCRAM: send a wrong server signature")
    p.add_argument("--scram-no-final", action="store_true",
                   help="SCRAM: 235 at once, without the server-final-message")
    p.add_argument("--token", help="XOAUTH2/OAUTHBEARER: the bearer token accepted")
    p.add_argument("--oauth-error", action="store_true",
                   help="XOAUTH2/OAUTHBEARER: error challenge even for the right token")
    p.add_argument("--oauth-fail-reply", default="535 5.7.8 Authentication credentials invalid",
                   help="the reply after the OAuth error challenge")
    p.add_argument("--no-ehlo", action="store_true", help="502 to EHLO")
    p.add_argument("--size", type=int, default=0, help="SIZE limit (0: none)")
    p.add_argument("--8bitmime", dest="eightbitmime", choices=("yes", "no"),
                   default="yes")
    p.add_argument("--advertise-starttls", choices=("yes", "no"), default="yes")
    p.add_argument("--fault", action="append", default=[], metavar="STAGE=ACTION")
    p.add_argument("--fault-once", action="store_true")
    p.add_argument("--delay", action="append", default=[], metavar="STAGE=SECS",
                   help="wait before STAGE (SIGUSR1 ends the delays)")
    p.add_argument("--max-sessions", type=int, default=0, metavar="N",
                   help="421 to a connection beyond N open ones (0: no limit)")
    p.add_argument("--starttls-inject", action="store_true",
                   help="send an extra reply right after the STARTTLS 220")
    p.add_argument("--pipelining", action="store_true", help="offer PIPELINING")
    p.add_argument("--rcpt-reply", action="append", default=[], metavar="ADDR=REPLY")
    p.add_argument("--rcpt-max", type=int, default=0)
    p.add_argument("--close-after", type=int, default=0)
    p.add_argument("--hostile-ehlo",
                   choices=("endless", "overlong", "nul", "nulcode", "crlf",
                            "mixed", "garbage"))
    p.add_argument("--smtputf8", action="store_true",
                   help="offer SMTPUTF8 and take UTF-8 commands")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    st = State(args)
    st.sni = {}
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    ctx = make_context(args, st) if args.tls != "none" else None
    handler = Handler(st)
    exclude = [m for m in MECHS if m not in st.mechs]

    def factory():
        return RecSMTP(handler, st, loop=loop, hostname=args.hostname,
                       ident="smtpd.py", decode_data=False,
                       data_size_limit=args.size or None,
                       tls_context=ctx if args.tls == "starttls" else None,
                       auth_require_tls=False, auth_exclude_mechanism=exclude,
                       authenticator=handler.authenticate,
                       enable_SMTPUTF8=args.smtputf8)

    server = loop.run_until_complete(loop.create_server(
        factory, host=args.host, port=args.port,
        ssl=ctx if args.tls == "implicit" else None))
    port = server.sockets[0].getsockname()[1]
    with open(st.path("port"), "w") as f:
        f.write(f"{port}\n")
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    loop.add_signal_handler(signal.SIGUSR1, st.fast.set)
    print(f"READY {port}", flush=True)
    loop.run_forever()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
