"""Real HTTP servers on 127.0.0.1 for tests (downloads, DVC fetch stages): started in a daemon
thread on a free port, closed by the test. Shared by the test modules that need one."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path
from typing import List, Type


class LoopbackHTTPServer:
    """A ThreadingHTTPServer on 127.0.0.1 (port chosen by the OS) running ``handler_class``."""

    def __init__(self, handler_class: Type[http.server.BaseHTTPRequestHandler]) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"  # no trailing slash
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


class StaticFileServer(LoopbackHTTPServer):
    """Serves the files under ``root`` (GET), after ``delay_s``; records every request path."""

    def __init__(self, root: Path, delay_s: float = 0.0) -> None:
        self.requests: List[str] = []
        owner = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                if delay_s:
                    time.sleep(delay_s)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)
