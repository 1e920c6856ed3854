#!/usr/bin/python3
"""Fault-injecting HTTP test server for the HTTP client, the `http` tool and the OpenAI
backend (standard library only).

It binds 127.0.0.1 on a free port, prints "PORT <n>" on stdout, and serves until its
stdin closes (so it dies with the test that started it). The path selects the behaviour;
every POST is counted per path+query (GET /count?key=<path?query> returns the count):

  /ok                  200 {"result": "echo: <query>", "request": <request JSON>}
  /error               200 {"error": "no such entity"}
  /slow?s=S            sleeps S seconds, then replies like /ok
  /fail?n=N            HTTP 500 for the first N requests (per full path), then like /ok
  /status?code=C       HTTP C with a small JSON error body
  /malformed           200 with a body that is not JSON
  /truncated           Content-Length 1000, 20 bytes sent, connection closed
  /drop                the connection is closed without any reply (a crashed server)
  /oversized?bytes=B   200 with a valid JSON body of about B bytes (&nolen=1: without
                       Content-Length, ended by closing the connection)
  /noresult            200 {"answer": 42, "query": <query>}
  /hang                reads the request and never replies (until the client hangs up)
  /retry?n=N&after=A&code=C&form=F
                       HTTP C (default 503) with "Retry-After: A" for the first N requests
                       (per full path), then like /ok; F=date sends A as an HTTP-date
                       (now + A s) instead of delay-seconds
  /badutf8             200 {"result": <bytes that are not UTF-8>}
  GET /connections     {"count": TCP connections accepted so far} (keep-alive checks)
  /echoauth            200 whose error text echoes the Authorization header (a hostile server)
  /v1/chat/completions OpenAI-compatible: checks "Authorization: Bearer $AF_TEST_EXPECT_KEY"
                       (401 if it differs), replies choices[0].message.content =
                       "reply(<model>): <last user message>"; ?bad=K returns malformed
                       variants K = nochoices | emptychoices | nomessage | nullcontent |
                       numbercontent | notobject | apierror | echoauth (401 echoing the
                       Authorization header) | apierror_echo (200 error message echoing it);
                       ?fail=N: HTTP 500 for the first N requests (&fail_code=C: HTTP C,
                       &retry_after=A: with "Retry-After: A"); ?slow=S: sleep S s first;
                       ?say=TEXT: the content is TEXT; ?say=echo_action: the content is the
                       line after "Planner action: " in the user message (a pass-through
                       executor); ?say=echo_temperature: "temperature <the request's>";
                       ?say=echo_auth: the content is the Authorization header (a hostile
                       planner echoing the API key); ?say=echo_opts: "seed <the request's
                       seed or none> logprobs <its logprobs or none>";
                       a request with "logprobs": true gets choices[0].logprobs.content =
                       [{"token": "a", "logprob": -0.25}, {"token": "b", "logprob": -0.5}];
                       ?reject=logprobs|seed|both: HTTP 400 whose error names the field(s)
                       when the request carries them (a server that does not take them)
  <fault path>/chat/completions   the fault paths above also answer under this suffix, which
                       the OpenAI client appends to a base URL (/truncated/chat/completions ...)
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from email.utils import formatdate
from urllib.parse import parse_qs, urlparse

counts = {}
connections = [0]
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the test's stderr is checked for secrets
        pass

    def setup(self):  # one call per accepted TCP connection
        with lock:
            connections[0] += 1
        super().setup()

    def reply(self, code, obj=None, raw=None, headers=()):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if u.path == "/count":
            key = q.get("key", [""])[0]
            with lock:
                n = counts.get(key, 0)
            self.reply(200, {"count": n})
        elif u.path == "/connections":
            with lock:
                n = connections[0]
            self.reply(200, {"count": n})
        else:
            self.reply(404, {"error": "GET only for /count"})

    def do_POST(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length > 0 else b""
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            n = counts[self.path]
        try:
            req = json.loads(raw.decode() or "null")
        except ValueError:
            self.reply(400, {"error": "request body is not JSON"})
            return
        p = u.path
        suffix = "/chat/completions"
        if p.endswith(suffix) and p != "/v1" + suffix:
            p = p[:-len(suffix)]
        if p == "/ok":
            self.reply(200, {"result": "echo: %s" % (req or {}).get("query"), "request": req})
        elif p == "/error":
            self.reply(200, {"error": "no such entity"})
        elif p == "/slow":
            time.sleep(float(q.get("s", ["5"])[0]))
            try:
                self.reply(200, {"result": "slow"})
            except OSError:
                pass
        elif p == "/hang":
            try:  # wait for the client to give up (or 60 s)
                self.connection.settimeout(60)
                self.connection.recv(1)
            except OSError:
                pass
            self.close_connection = True
        elif p == "/retry":
            if n <= int(q.get("n", ["1"])[0]):
                after = q.get("after", ["1"])[0]
                if q.get("form", [""])[0] == "date":
                    after = formatdate(time.time() + float(after), usegmt=True)
                self.reply(int(q.get("code", ["503"])[0]), {"error": "busy, retry later"},
                           headers=[("Retry-After", after)])
            else:
                self.reply(200, {"result": "ok after %d" % (n - 1)})
        elif p == "/badutf8":
            self.reply(200, raw=b'{"result": "bad \xff\xfe bytes \xc3( and \xe2\x82 end"}')
        elif p == "/fail":
            if n <= int(q.get("n", ["1"])[0]):
                self.reply(500, {"error": "injected failure %d" % n})
            else:
                self.reply(200, {"result": "ok after %d" % (n - 1), "request": req})
        elif p == "/status":
            self.reply(int(q.get("code", ["404"])[0]), {"error": "injected status"})
        elif p == "/drop":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
        elif p == "/malformed":
            self.reply(200, raw=b'{"result": "unterminated')
        elif p == "/truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"result": "cut short')
            self.wfile.flush()
            self.close_connection = True
        elif p == "/oversized":
            size = int(q.get("bytes", ["100000"])[0])
            if q.get("nolen"):  # no Content-Length: the client must stop reading by itself
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(json.dumps({"result": "x" * size}).encode())
                self.close_connection = True
            else:
                self.reply(200, {"result": "x" * size})
        elif p == "/noresult":
            self.reply(200, {"answer": 42, "query": (req or {}).get("query")})
        elif p == "/echoauth":
            self.reply(401, {"error": "bad key: %s" % self.headers.get("Authorization", "")})
        elif p == "/v1/chat/completions":
            if n <= int(q.get("fail", ["0"])[0]):
                ra = q.get("retry_after")
                self.reply(int(q.get("fail_code", ["500"])[0]), {"error": {"message": "injected failure %d" % n}},
                           headers=[("Retry-After", ra[0])] if ra else ())
                return
            if "slow" in q:
                time.sleep(float(q["slow"][0]))
            reject = q.get("reject", [""])[0]
            names = [f for f in ("seed", "logprobs") if reject in (f, "both") and isinstance(req, dict) and f in req]
            if names:
                self.reply(400, {"error": {"message": "unsupported parameter(s): %s" % ", ".join(names),
                                           "type": "invalid_request_error"}})
                return
            try:
                self.chat(req, q.get("bad", [""])[0], q.get("say", [None])[0])
            except OSError:
                pass
        else:
            self.reply(404, {"error": "unknown path"})

    def chat(self, req, bad, say=None):
        want = os.environ.get("AF_TEST_EXPECT_KEY", "")
        got = self.headers.get("Authorization", "")
        if bad == "echoauth":
            self.reply(401, {"error": {"message": "invalid key %s" % got}})
            return
        if bad == "apierror_echo":
            self.reply(200, {"error": {"message": "invalid key %s" % got}})
            return
        if want and got != "Bearer " + want:
            self.reply(401, {"error": {"message": "invalid api key", "type": "auth"}})
            return
        if not isinstance(req, dict) or not isinstance(req.get("messages"), list):
            self.reply(400, {"error": {"message": "messages missing"}})
            return
        msgs = req["messages"]
        user = [m.get("content") for m in msgs if m.get("role") == "user"]
        system = [m.get("content") for m in msgs if m.get("role") == "system"]
        content = "reply(%s): %s" % (req.get("model"), user[-1] if user else "")
        if system:
            content += " [system: %s]" % system[-1]
        if say == "echo_action":
            last = user[-1] if user else ""
            at = last.find("Planner action: ")
            content = last[at + 16:].split("\n")[0] if at >= 0 else ""
        elif say == "echo_auth":  # a hostile or broken server repeating the key
            content = "stop | my key is %s" % got
        elif say == "echo_temperature":  # shows the sampling temperature the client asked for
            content = "temperature %s" % req.get("temperature")
        elif say == "echo_opts":  # what the client asked for beyond the messages
            content = "seed %s logprobs %s" % (req.get("seed", "none"), req.get("logprobs", "none"))
        elif say is not None:
            content = say
        good = {"id": "x", "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}]}
        if req.get("logprobs") is True:
            good["choices"][0]["logprobs"] = {"content": [{"token": "a", "logprob": -0.25},
                                                          {"token": "b", "logprob": -0.5}]}
        variants = {
            "nochoices": {"id": "x"},
            "emptychoices": {"choices": []},
            "nomessage": {"choices": [{"index": 0}]},
            "nullcontent": {"choices": [{"message": {"role": "assistant", "content": None}}]},
            "numbercontent": {"choices": [{"message": {"role": "assistant", "content": 42}}]},
            "notobject": ["choices"],
            "apierror": {"error": {"message": "model overloaded", "type": "server"}},
        }
        self.reply(200, variants.get(bad, good))


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients hanging up early are expected
        pass


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    print("PORT %d" % srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sys.stdin.read()  # returns at EOF: the test closed the pipe or died
    os._exit(0)


if __name__ == "__main__":
    main()
