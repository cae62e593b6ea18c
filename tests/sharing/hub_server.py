"""A small fake 🤗 Hub on 127.0.0.1: the endpoints huggingface_hub 0.36 calls for
``HfApi.create_repo`` and ``HfApi.upload_folder``, and nothing else.

Read from huggingface_hub 0.36.2 (``hf_api.py``, ``_commit_api.py``, ``lfs.py``):

- ``POST /api/repos/create`` (JSON ``name``, ``organization``, ``private``, ``type``): 200 with
  ``{"url"}``, or 409 when the repository exists (``exist_ok=True`` accepts it);
- ``POST /api/validate-yaml`` (JSON ``content``, ``repoType``): the README front matter must be a
  YAML mapping, else 400 with ``{"errors": [...]}``;
- ``POST /api/models/{repo}/preupload/{revision}`` (JSON ``files``: path, base64 sample, size):
  ``uploadMode`` ``"lfs"`` for the Hub's default LFS patterns (``*.safetensors``, ``*.h5``...) or
  10 MiB and more, else ``"regular"``;
- ``POST /{repo}.git/info/lfs/objects/batch`` (Git LFS batch API): ``transfer: "basic"`` (the
  client also offers ``"xet"`` when hf_xet is installed; this server declines it), an upload and a
  verify action per object;
- ``PUT /lfs-upload/{oid}``: the bytes, whose SHA-256 must equal ``oid``;
- ``POST /lfs-verify`` (JSON ``oid``, ``size``): the object must have arrived;
- ``POST /api/models/{repo}/commit/{revision}`` (NDJSON: a header, then ``file`` entries with
  base64 content and ``lfsFile`` entries naming an uploaded oid): applies the commit.

And, to read a pushed repository back with ``snapshot_download`` / ``from_pretrained``:
``GET /api/models/{repo}/revision/{revision}`` (``id``, ``sha``, ``siblings``) and
``HEAD``/``GET /{repo}/resolve/{revision}/{path}`` (``ETag``, ``X-Repo-Commit``,
``Content-Length``; the latest commit whatever the revision).

Spaces (``repo_type="space"``, what ``tfprot push --space`` creates) take the same routes under
``/api/spaces/...`` and ``/spaces/{repo}.git/...``; creating one needs a known ``sdk``, and a
Space's README front matter must name its ``sdk`` (and, for ``gradio``, its ``sdk_version``), as
the Hub's Spaces configuration requires. They are kept apart from models in ``FakeHub.spaces``.

Every request but the LFS upload (a pre-signed storage URL on the real Hub, which the client
calls without credentials) must carry ``Authorization: Bearer <token>`` (else 401).
The server records every request (method, path, headers, body) and the files of each repository,
so a test can compare what arrived, byte for byte, with what was on disk.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LFS_PATTERNS = ("*.safetensors", "*.h5", "*.bin", "*.npz", "*.npy", "*.pt", "*.ckpt", "*.onnx")
LFS_SIZE = 10 * 1024 * 1024
SPACE_SDKS = ("gradio", "docker", "static", "streamlit")


def space_config_errors(front: dict[str, Any]) -> list[dict[str, str]]:
    """What the Hub refuses in a Space's README front matter: no or an unknown ``sdk``, a
    ``gradio``/``streamlit`` Space without ``sdk_version``, a non-string ``app_file``."""
    errors = []
    if front.get("sdk") not in SPACE_SDKS:
        errors.append({"message": f"sdk must be one of {SPACE_SDKS}, got {front.get('sdk')!r}"})
    elif front["sdk"] in ("gradio", "streamlit") and not front.get("sdk_version"):
        errors.append({"message": f"sdk_version is required for a {front['sdk']} Space"})
    if "app_file" in front and not isinstance(front["app_file"], str):
        errors.append({"message": "app_file must be a path"})
    return errors


@dataclass
class Repo:
    private: bool
    sdk: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    lfs_paths: set[str] = field(default_factory=set)
    commits: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class FakeHub:
    """``with FakeHub(token) as hub:`` serves on ``hub.url`` until the block ends."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.spaces: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        # -- plumbing ---------------------------------------------------------------------
        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            body = self._body()
            with hub.lock:
                hub.requests.append(
                    Request(
                        method, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                    )
                )
            # The LFS upload URL stands for a pre-signed storage URL: no Authorization header.
            presigned = self.path.startswith("/lfs-upload/")
            if not presigned and self.headers.get("Authorization") != f"Bearer {hub.token}":
                self._send(401, {"error": "Invalid credentials in Authorization header"})
                return
            path = self.path.split("?")[0]
            try:
                route(self, method, path, body)
            except Exception as error:  # a bug in this server: make the test fail loudly
                self._send(500, {"error": f"fake hub: {type(error).__name__}: {error}"})

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_GET(self) -> None:
            self._handle("GET")

        def do_HEAD(self) -> None:
            self._handle("HEAD")

    def route(h, method: str, path: str, body: bytes) -> None:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/api/repos/create":
            return create_repo(h, json.loads(body))
        if method == "POST" and path == "/api/validate-yaml":
            return validate_yaml(h, json.loads(body))
        if method == "POST" and path.endswith(".git/info/lfs/objects/batch"):
            name = path[1 : -len(".git/info/lfs/objects/batch")]
            kind = "spaces" if name.startswith("spaces/") else "models"
            return lfs_batch(h, kind, name.removeprefix("spaces/"), json.loads(body))
        if method == "PUT" and parts[0] == "lfs-upload":
            return lfs_upload(h, parts[1], body)
        if method == "POST" and path == "/lfs-verify":
            return lfs_verify(h, json.loads(body))
        if method == "GET" and parts[:2] == ["api", "models"] and parts[4:5] == ["revision"]:
            return repo_info(h, f"{parts[2]}/{parts[3]}")
        if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
            return resolve(h, method, f"{parts[0]}/{parts[1]}", "/".join(parts[4:]))
        if method == "POST" and parts[:2] in (["api", "models"], ["api", "spaces"]):
            repos = stored(parts[1])
            repo_id, action = f"{parts[2]}/{parts[3]}", parts[4] if len(parts) == 6 else ""
            if repo_id not in repos:
                return h._send(
                    404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
                )
            if action == "preupload":
                return preupload(h, repo_id, json.loads(body))
            if action == "commit":
                return commit(h, repos, repo_id, body)
        h._send(404, {"error": f"fake hub: no route for {method} {path}"})

    def stored(kind: str) -> dict[str, Repo]:
        """The repositories of ``kind`` (``'models'`` or ``'spaces'``)."""
        return hub.spaces if kind == "spaces" else hub.repos

    def create_repo(h, payload: dict[str, Any]) -> None:
        repo_id = f"{payload['organization']}/{payload['name']}"
        kind = payload.get("type", "model")
        if kind not in ("model", "space"):
            return h._send(400, {"error": "fake hub: model and space repositories only"})
        if kind == "space" and payload.get("sdk") not in SPACE_SDKS:
            return h._send(400, {"error": f"Invalid sdk {payload.get('sdk')!r}"})
        repos = stored(f"{kind}s")
        url = f"{hub.url}/spaces/{repo_id}" if kind == "space" else f"{hub.url}/{repo_id}"
        with hub.lock:
            if repo_id in repos:
                return h._send(409, {"error": f"You already created this {kind} repo", "url": url})
            repos[repo_id] = Repo(private=bool(payload.get("private")), sdk=payload.get("sdk"))
        h._send(200, {"url": url, "name": repo_id})

    def validate_yaml(h, payload: dict[str, Any]) -> None:
        import yaml

        content = payload["content"]
        errors = []
        if not content.startswith("---\n"):
            errors.append({"message": "no YAML front matter"})
        else:
            try:
                front = yaml.safe_load(content.split("\n---\n", 1)[0][4:])
                if not isinstance(front, dict):
                    errors.append({"message": "front matter is not a mapping"})
                elif payload.get("repoType") == "space":
                    errors += space_config_errors(front)
            except yaml.YAMLError as error:
                errors.append({"message": f"invalid YAML: {error}"})
        h._send(400 if errors else 200, {"errors": errors, "warnings": []})

    def preupload(h, repo_id: str, payload: dict[str, Any]) -> None:
        files = []
        for item in payload["files"]:
            base64.b64decode(item["sample"])  # must be valid base64
            lfs = item["size"] >= LFS_SIZE or any(
                fnmatch.fnmatch(item["path"], pattern) for pattern in LFS_PATTERNS
            )
            files.append(
                {
                    "path": item["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": None,
                }
            )
        h._send(200, {"files": files, "commitOid": "0" * 40})

    def lfs_batch(h, kind: str, repo_id: str, payload: dict[str, Any]) -> None:
        if repo_id not in stored(kind) or payload.get("operation") != "upload":
            return h._send(404, {"message": "Repository not found"})
        objects = [
            {
                "oid": obj["oid"],
                "size": obj["size"],
                "authenticated": True,
                "actions": {
                    "upload": {"href": f"{hub.url}/lfs-upload/{obj['oid']}", "header": {}},
                    "verify": {"href": f"{hub.url}/lfs-verify", "header": {}},
                },
            }
            for obj in payload["objects"]
        ]
        h._send(200, {"transfer": "basic", "objects": objects})

    def lfs_upload(h, oid: str, body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            return h._send(400, {"error": "content does not match its sha256"})
        with hub.lock:
            hub.lfs_objects[oid] = body
        h._send(200, {})

    def lfs_verify(h, payload: dict[str, Any]) -> None:
        data = hub.lfs_objects.get(payload["oid"])
        if data is None or len(data) != payload["size"]:
            return h._send(404, {"error": "object not uploaded"})
        h._send(200, {})

    def commit(h, repos: dict[str, Repo], repo_id: str, body: bytes) -> None:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0]["key"] != "header":
            return h._send(400, {"error": "the commit must start with a header"})
        changes: dict[str, bytes] = {}
        lfs_paths = set()
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                if value.get("encoding") != "base64":
                    return h._send(400, {"error": "expected base64 content"})
                changes[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "lfsFile":
                data = hub.lfs_objects.get(value["oid"])
                if data is None or len(data) != value["size"]:
                    return h._send(422, {"error": f"LFS object of {value['path']} missing"})
                changes[value["path"]] = data
                lfs_paths.add(value["path"])
            else:
                return h._send(400, {"error": f"fake hub: unsupported {line['key']}"})
        oid = hashlib.sha1(body).hexdigest()
        with hub.lock:
            repo = repos[repo_id]
            repo.files.update(changes)
            repo.lfs_paths |= lfs_paths
            repo.commits.append({"oid": oid, **lines[0]["value"]})
        h._send(
            200,
            {
                "commitUrl": f"{hub.url}/{repo_id}/commit/{oid}",
                "commitOid": oid,
                "pullRequestUrl": None,
            },
        )

    def repo_info(h, repo_id: str) -> None:
        repo = hub.repos.get(repo_id)
        if repo is None or not repo.commits:
            return h._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        siblings = [{"rfilename": name} for name in sorted(repo.files)]
        sha = repo.commits[-1]["oid"]
        h._send(200, {"id": repo_id, "sha": sha, "private": repo.private, "siblings": siblings})

    def resolve(h, method: str, repo_id: str, path: str) -> None:
        repo = hub.repos.get(repo_id)
        if repo is None or path not in repo.files:
            return h._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
        data = repo.files[path]
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        h.send_header("X-Repo-Commit", repo.commits[-1]["oid"])
        h.end_headers()
        if method == "GET":
            h.wfile.write(data)

    return Handler
