#!/usr/bin/env python3
# Tests for runtimes/python/bootstrap: a fake Runtime API server runs in a thread and
# the bootstrap runs as a subprocess against it, with handlers written to a temp dir.

import http.server
import json
import os
import queue
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BOOTSTRAP = os.path.normpath(os.path.join(HERE, "..", "..", "runtimes", "python", "bootstrap"))
PREFIX = "/2018-06-01/runtime"
WAIT_S = 15


class FakeRuntimeAPI:
    """A Runtime API server: /next hands out queued invocations, posts are recorded."""

    def __init__(self, close_each=False):
        self.invocations = queue.Queue()
        self.results = {}          # request id -> (kind, headers, body)
        self.init_errors = []      # (headers, body)
        self.next_calls = 0
        self.client_ports = set()
        self.close_each = close_each
        self.stopped = threading.Event()
        self.cond = threading.Condition()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                if api.close_each:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                api.client_ports.add(self.client_address[1])
                if self.path != PREFIX + "/invocation/next":
                    return self.reply(404)
                with api.cond:
                    api.next_calls += 1
                    api.cond.notify_all()
                while not api.stopped.is_set():
                    try:
                        request_id, body, headers = api.invocations.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    h = {"Lambda-Runtime-Aws-Request-Id": request_id,
                         "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30000),
                         "Lambda-Runtime-Invoked-Function-Arn":
                             "arn:aws:lambda:us-east-1:000000000000:function:fn",
                         "Content-Type": "application/json"}
                    h.update(headers)
                    return self.reply(200, body, h)
                self.close_connection = True

            def do_POST(self):
                api.client_ports.add(self.client_address[1])
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                parts = self.path[len(PREFIX):].strip("/").split("/")
                with api.cond:
                    if parts == ["init", "error"]:
                        api.init_errors.append((self.headers, body))
                    elif len(parts) == 3 and parts[0] == "invocation":
                        api.results[parts[1]] = (parts[2], self.headers, body)
                    else:
                        return self.reply(404)
                    api.cond.notify_all()
                self.reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A runtime killed at the end of a test resets its connection.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.server.server_address[1]

    def invoke(self, request_id, event, headers=None):
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        self.invocations.put((request_id, body, headers or {}))

    def wait_result(self, request_id):
        with self.cond:
            if not self.cond.wait_for(lambda: request_id in self.results, WAIT_S):
                raise AssertionError("no result for %s" % request_id)
            return self.results[request_id]

    def stop(self):
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


class RuntimeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = os.path.realpath(self.tmp.name)
        self.api = None
        self.proc = None

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        if self.api is not None:
            self.api.stop()
        self.tmp.cleanup()

    def write(self, files):
        for name, text in files.items():
            path = os.path.join(self.root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(textwrap.dedent(text))

    def start(self, files, handler, env=None, close_each=False):
        self.write(files)
        self.api = FakeRuntimeAPI(close_each=close_each)
        e = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "_X_AMZN"))}
        e.pop("PYTHONPATH", None)
        e.update({
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": self.root,
            "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abc",
        })
        e.update(env or {})
        self.proc = subprocess.Popen([sys.executable, BOOTSTRAP], env=e, cwd="/",
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def finish(self):
        """Stop the runtime and return its (stdout, stderr) as text."""
        if self.proc.poll() is None:
            self.proc.terminate()
        out, err = self.proc.communicate(timeout=WAIT_S)
        return out.decode(), err.decode()

    def run_one(self, files, handler, event, headers=None, env=None):
        self.start(files, handler, env)
        self.api.invoke("req-1", event, headers)
        kind, h, body = self.api.wait_result("req-1")
        return kind, h, body

    def expect_init_error(self, files, handler):
        self.start(files, handler)
        rc = self.proc.wait(timeout=WAIT_S)
        out, err = self.finish()
        self.assertNotEqual(rc, 0)
        self.assertEqual(self.api.next_calls, 0)
        self.assertEqual(len(self.api.init_errors), 1, err)
        headers, body = self.api.init_errors[0]
        error = json.loads(body)
        self.assertEqual(headers["Lambda-Runtime-Function-Error-Type"], error["errorType"])
        self.assertIn("[ERROR] " + error["errorType"], err)
        return error

    # --- successful invocations -------------------------------------------------------

    def test_success_echo(self):
        kind, h, body = self.run_one(
            {"app.py": "def handler(event, context):\n    return {'got': event}\n"},
            "app.handler", {"a": [1, 2, "x"]})
        self.assertEqual(kind, "response")
        self.assertEqual(h["Content-Type"], "application/json")
        self.assertEqual(json.loads(body), {"got": {"a": [1, 2, "x"]}})

    def test_none_result_is_null(self):
        kind, _, body = self.run_one(
            {"app.py": "def handler(event, context):\n    pass\n"}, "app.handler", {})
        self.assertEqual((kind, body), ("response", b"null"))

    def test_string_and_unicode(self):
        kind, _, body = self.run_one(
            {"app.py": "def handler(event, context):\n    return event['s'] + ' ✓'\n"},
            "app.handler", {"s": "héllo 世界"})
        self.assertEqual(kind, "response")
        self.assertEqual(json.loads(body.decode("utf-8")), "héllo 世界 ✓")

    def test_pkg_module_handler(self):
        kind, _, body = self.run_one(
            {"src/handlers/app.py": """\
                from . import helper
                def handler(event, context):
                    return helper.VALUE
                """,
             "src/handlers/helper.py": "VALUE = 'nested'\n"},
            "src/handlers/app.handler", {})
        self.assertEqual((kind, json.loads(body)), ("response", "nested"))

    def test_task_root_first_on_sys_path(self):
        kind, _, body = self.run_one(
            {"app.py": """\
                import sys, os, json as j
                def handler(event, context):
                    return [sys.path[0], os.getcwd(), j.__name__]
                """},
            "app.handler", {})
        self.assertEqual(json.loads(body), [self.root, self.root, "json"])

    def test_context_fields(self):
        deadline = int(time.time() * 1000) + 5000
        kind, _, body = self.run_one(
            {"app.py": """\
                import os
                def handler(event, context):
                    return {
                        "aws_request_id": context.aws_request_id,
                        "function_name": context.function_name,
                        "function_version": context.function_version,
                        "invoked_function_arn": context.invoked_function_arn,
                        "memory_limit_in_mb": context.memory_limit_in_mb,
                        "log_group_name": context.log_group_name,
                        "log_stream_name": context.log_stream_name,
                        "remaining": context.get_remaining_time_in_millis(),
                        "client_context": context.client_context,
                        "identity": context.identity,
                        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
                    }
                """},
            "app.handler", {},
            headers={"Lambda-Runtime-Deadline-Ms": str(deadline),
                     "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:eu-west-1:1:function:fn:live",
                     "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"})
        self.assertEqual(kind, "response", body)
        ctx = json.loads(body)
        remaining = ctx.pop("remaining")
        self.assertTrue(3000 < remaining <= 5000, remaining)
        self.assertEqual(ctx, {
            "aws_request_id": "req-1",
            "function_name": "fn",
            "function_version": "$LATEST",
            "invoked_function_arn": "arn:aws:lambda:eu-west-1:1:function:fn:live",
            "memory_limit_in_mb": 256,
            "log_group_name": "/aws/lambda/fn",
            "log_stream_name": "2024/01/01/[$LATEST]abc",
            "client_context": None,
            "identity": None,
            "trace": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        })

    def test_remaining_time_decreases_and_floors_at_zero(self):
        self.start({"app.py": """\
            import time
            def handler(event, context):
                a = context.get_remaining_time_in_millis()
                time.sleep(0.05)
                return [a, context.get_remaining_time_in_millis()]
            """}, "app.handler")
        now = int(time.time() * 1000)
        self.api.invoke("r1", {}, {"Lambda-Runtime-Deadline-Ms": str(now + 3000)})
        self.api.invoke("r2", {}, {"Lambda-Runtime-Deadline-Ms": str(now - 1000)})
        a, b = json.loads(self.api.wait_result("r1")[2])
        self.assertGreaterEqual(a - b, 40)
        self.assertEqual(json.loads(self.api.wait_result("r2")[2]), [0, 0])

    def test_client_context_and_identity(self):
        cc = {"client": {"installation_id": "i1", "app_title": "t", "app_version_name": "1.0",
                         "app_version_code": "1", "app_package_name": "p"},
              "custom": {"k": "v"}, "env": {"platform": "android"}}
        ident = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
        kind, _, body = self.run_one(
            {"app.py": """\
                def handler(event, context):
                    c = context.client_context
                    return [c.client.installation_id, c.client.app_title, c.client.app_package_name,
                            c.custom, c.env, context.identity.cognito_identity_id,
                            context.identity.cognito_identity_pool_id]
                """},
            "app.handler", {},
            headers={"Lambda-Runtime-Client-Context": json.dumps(cc),
                     "Lambda-Runtime-Cognito-Identity": json.dumps(ident)})
        self.assertEqual(kind, "response", body)
        self.assertEqual(json.loads(body), ["i1", "t", "p", {"k": "v"}, {"platform": "android"},
                                            "id-1", "pool-1"])

    def test_trace_id_is_per_invocation(self):
        self.start({"app.py": """\
            import os
            def handler(event, context):
                return os.environ.get("_X_AMZN_TRACE_ID")
            """}, "app.handler")
        self.api.invoke("r1", {}, {"Lambda-Runtime-Trace-Id": "Root=1-a"})
        self.api.invoke("r2", {})
        self.assertEqual(json.loads(self.api.wait_result("r1")[2]), "Root=1-a")
        self.assertIsNone(json.loads(self.api.wait_result("r2")[2]))

    # --- errors ------------------------------------------------------------------------

    def test_exception_shape_and_stack_trace(self):
        kind, h, body = self.run_one(
            {"app.py": 'def handler(event, context):\n    x = 1\n    raise ValueError("x")\n'},
            "app.handler", {})
        self.assertEqual(kind, "error")
        self.assertEqual(h["Lambda-Runtime-Function-Error-Type"], "Unhandled")
        path = os.path.join(self.root, "app.py")
        self.assertEqual(json.loads(body), {
            "errorMessage": "x",
            "errorType": "ValueError",
            "requestId": "req-1",
            "stackTrace": ['  File "%s", line 3, in handler\n    raise ValueError("x")\n' % path],
        })
        _, err = self.finish()
        self.assertIn('[ERROR] ValueError: x\nTraceback (most recent call last):\n'
                      '  File "%s", line 3, in handler\n    raise ValueError("x")\n' % path, err)

    def test_exception_nested_frames_and_custom_class(self):
        kind, _, body = self.run_one(
            {"app.py": """\
                class MyError(Exception):
                    pass
                def inner():
                    raise MyError("deep")
                def handler(event, context):
                    inner()
                """},
            "app.handler", {})
        error = json.loads(body)
        self.assertEqual((kind, error["errorType"], error["errorMessage"]),
                         ("error", "MyError", "deep"))
        self.assertEqual(len(error["stackTrace"]), 2, error["stackTrace"])
        self.assertIn("in handler\n    inner()\n", error["stackTrace"][0])
        self.assertIn("in inner\n    raise MyError(\"deep\")\n", error["stackTrace"][1])

    def test_runtime_survives_an_error(self):
        self.start({"app.py": """\
            def handler(event, context):
                if event.get("fail"):
                    raise KeyError("k")
                return "ok"
            """}, "app.handler")
        self.api.invoke("r1", {"fail": True})
        self.api.invoke("r2", {})
        self.assertEqual(self.api.wait_result("r1")[0], "error")
        self.assertEqual(self.api.wait_result("r2")[2], b'"ok"')

    def test_marshal_error(self):
        kind, h, body = self.run_one(
            {"app.py": "def handler(event, context):\n    return {1, 2}\n"}, "app.handler", {})
        self.assertEqual(kind, "error")
        error = json.loads(body)
        self.assertEqual(error["errorType"], "Runtime.MarshalError")
        self.assertEqual(error["errorMessage"],
                         "Unable to marshal response: Object of type set is not JSON serializable")
        self.assertEqual(error["requestId"], "req-1")

    def test_decimal_is_serialised(self):
        kind, _, body = self.run_one(
            {"app.py": "import decimal\ndef handler(e, c):\n    return decimal.Decimal('1.5')\n"},
            "app.handler", {})
        self.assertEqual((kind, body), ("response", b"1.5"))

    def test_import_module_error(self):
        error = self.expect_init_error({"app.py": "import x\n"}, "app.handler")
        self.assertEqual(error["errorType"], "Runtime.ImportModuleError")
        self.assertEqual(error["errorMessage"], "Unable to import module 'app': No module named 'x'")

    def test_missing_module_is_import_error(self):
        error = self.expect_init_error({}, "nothere.handler")
        self.assertEqual(error["errorType"], "Runtime.ImportModuleError")
        self.assertEqual(error["errorMessage"],
                         "Unable to import module 'nothere': No module named 'nothere'")

    def test_syntax_error(self):
        error = self.expect_init_error({"app.py": "def handler(event, context)\n    pass\n"},
                                       "app.handler")
        self.assertEqual(error["errorType"], "Runtime.UserCodeSyntaxError")
        self.assertTrue(error["errorMessage"].startswith("Syntax error in module 'app': "),
                        error["errorMessage"])
        self.assertIn("app.py", error["stackTrace"][0])

    def test_handler_not_found(self):
        error = self.expect_init_error({"app.py": "def handler(e, c):\n    pass\n"}, "app.nope")
        self.assertEqual(error["errorType"], "Runtime.HandlerNotFound")
        self.assertEqual(error["errorMessage"], "Handler 'nope' missing on module 'app'")

    def test_malformed_handler_name(self):
        error = self.expect_init_error({"app.py": ""}, "apphandler")
        self.assertEqual(error["errorType"], "Runtime.MalformedHandlerName")
        self.assertTrue(error["errorMessage"].startswith("Bad handler 'apphandler'"))

    def test_exception_at_module_level(self):
        error = self.expect_init_error({"app.py": "x = {}['k']\n"}, "app.handler")
        self.assertEqual((error["errorType"], error["errorMessage"]), ("KeyError", "'k'"))
        self.assertEqual(len(error["stackTrace"]), 1, error["stackTrace"])
        self.assertIn("app.py\", line 1, in <module>", error["stackTrace"][0])

    # --- process lifetime, connection, logs ----------------------------------------------

    def test_module_code_runs_once(self):
        self.start({"app.py": """\
            import os
            COUNT = {"init": 0, "calls": 0}
            COUNT["init"] += 1
            print("cold start")
            def handler(event, context):
                COUNT["calls"] += 1
                return dict(COUNT, pid=os.getpid())
            """}, "app.handler")
        for i in range(3):
            self.api.invoke("r%d" % i, {})
        results = [json.loads(self.api.wait_result("r%d" % i)[2]) for i in range(3)]
        self.assertEqual([r["init"] for r in results], [1, 1, 1])
        self.assertEqual([r["calls"] for r in results], [1, 2, 3])
        self.assertEqual(len({r["pid"] for r in results}), 1)
        out, _ = self.finish()
        self.assertEqual(out.count("cold start"), 1)

    def test_one_persistent_connection(self):
        self.start({"app.py": "def handler(e, c):\n    return 1\n"}, "app.handler")
        for i in range(3):
            self.api.invoke("r%d" % i, {})
        for i in range(3):
            self.api.wait_result("r%d" % i)
        self.assertEqual(len(self.api.client_ports), 1, self.api.client_ports)

    def test_reconnects_when_server_closes(self):
        self.start({"app.py": "def handler(e, c):\n    return e\n"}, "app.handler",
                   close_each=True)
        for i in range(3):
            self.api.invoke("r%d" % i, i)
        for i in range(3):
            self.assertEqual(self.api.wait_result("r%d" % i)[2], str(i).encode())
        self.assertGreater(len(self.api.client_ports), 1)

    def test_print_and_logging_format(self):
        self.start({"app.py": """\
            import logging, sys
            logger = logging.getLogger()
            logger.setLevel(logging.INFO)
            def handler(event, context):
                print("hello from print")
                print("to stderr", file=sys.stderr)
                logger.info("info %s", event["n"])
                logging.getLogger("child").warning("careful")
                return None
            """}, "app.handler")
        self.api.invoke("11111111-2222-3333-4444-555555555555", {"n": 7})
        self.api.wait_result("11111111-2222-3333-4444-555555555555")
        out, err = self.finish()
        self.assertIn("hello from print\n", out)
        self.assertIn("to stderr\n", err)
        iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
        self.assertRegex(out, r"(?m)^\[INFO\]\t%s\t11111111-2222-3333-4444-555555555555\tinfo 7$"
                         % iso)
        self.assertRegex(out, r"(?m)^\[WARNING\]\t%s\t11111111-2222-3333-4444-555555555555\t"
                              r"careful$" % iso)

    def test_log_level_from_environment(self):
        self.start({"app.py": """\
            import logging
            def handler(event, context):
                logging.debug("dbg")
                logging.getLogger().info("inf")
            """}, "app.handler", env={"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
        self.api.invoke("r1", {})
        self.api.wait_result("r1")
        out, _ = self.finish()
        self.assertIn("\tr1\tdbg\n", out)
        self.assertIn("\tr1\tinf\n", out)


if __name__ == "__main__":
    unittest.main()
