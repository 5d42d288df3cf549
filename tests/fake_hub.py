"""A minimal Hugging Face Hub on 127.0.0.1 for tests: serves model repos the way the Hub does.

Implements what ``huggingface_hub`` uses for downloading (``HEAD``/``GET /{repo}/resolve/{revision}/{path}``
with ``X-Repo-Commit``, ``ETag`` and ``X-Error-Code`` headers) and for uploading small files
(``/api/repos/create``, ``/api/validate-yaml``, ``preupload`` answering "regular", and the ndjson
``commit`` endpoint).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit sha -> files
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit sha

    def commit(self, files: dict[str, bytes], ref: str = "main", parent: str | None = None) -> str:
        base = dict(self.commits[parent]) if parent else {}
        base.update(files)
        sha = hashlib.sha1(json.dumps(sorted((k, hashlib.sha1(v).hexdigest()) for k, v in base.items())).encode()
                           + str(len(self.commits)).encode()).hexdigest()
        self.commits[sha] = base
        self.refs[ref] = sha
        return sha

    def resolve(self, revision: str) -> str | None:
        if revision in self.commits:
            return revision
        return self.refs.get(revision)


class FakeHub:
    """``with FakeHub() as hub: hub.repos["user/model"] = Repo(); ... hub.url``"""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, status: int, code: str, message: str) -> None:
                body = json.dumps({"error": message}).encode()
                self._send(status, body, {"X-Error-Code": code, "X-Error-Message": message,
                                          "Content-Type": "application/json"})

            def _resolve(self) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                parts = self.path.split("?")[0].lstrip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return self._error(404, "RepoNotFound", "not found")
                repo_id, revision, path = "/".join(parts[:2]), unquote(parts[3]), "/".join(parts[4:])
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
                sha = repo.resolve(revision)
                if sha is None:
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                content = repo.commits[sha].get(path)
                if content is None:
                    return self._error(404, "EntryNotFound", f"{path} does not exist at {revision}")
                etag = hashlib.sha256(content).hexdigest()
                self._send(200, content, {"X-Repo-Commit": sha, "ETag": f'"{etag}"',
                                          "Content-Type": "application/octet-stream"})

            do_GET = _resolve
            do_HEAD = _resolve

            def do_POST(self) -> None:  # http.server's naming
                hub.requests.append(f"POST {self.path}")
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0]
                if path == "/api/validate-yaml":  # the model card's front matter: accept it
                    return self._send(200, json.dumps({"errors": [], "warnings": []}).encode())
                if path == "/api/repos/create":
                    payload = json.loads(body)
                    repo_id = (
                        f"{payload['organization']}/{payload['name']}"
                        if payload.get("organization")
                        else payload["name"]
                    )
                    if repo_id in hub.repos:
                        return self._error(409, "RepoExists", "You already created this model repo")
                    hub.repos[repo_id] = Repo()
                    return self._send(200, json.dumps({"url": f"{hub.url}/{repo_id}"}).encode())
                parts = path.strip("/").split("/")  # api/models/{org}/{name}/{action}/{revision}
                if len(parts) == 6 and parts[:2] == ["api", "models"]:
                    repo_id, action, revision = f"{parts[2]}/{parts[3]}", parts[4], unquote(parts[5])
                    repo = hub.repos.get(repo_id)
                    if repo is None:
                        return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
                    if action == "preupload":
                        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                 for f in json.loads(body)["files"]]
                        return self._send(200, json.dumps({"files": files}).encode())
                    if action == "commit":
                        files = {}
                        for line in body.decode().splitlines():
                            item = json.loads(line)
                            if item["key"] == "file":
                                files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                        sha = repo.commit(files, ref=revision, parent=repo.refs.get(revision))
                        return self._send(200, json.dumps({"commitUrl": f"{hub.url}/{repo_id}/commit/{sha}",
                                                           "commitOid": sha, "pullRequestUrl": None}).encode())
                self._error(404, "RepoNotFound", f"no route for {path}")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:  # noqa: PYI034 (never subclassed)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
