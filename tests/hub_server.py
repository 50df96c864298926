"""A small Hugging Face Hub-compatible HTTP server: the test double of the Hub for this offline machine.

The real ``huggingface_hub`` client (``HfApi``, ``hf_hub_download``, ``snapshot_download``,
``PyTorchModelHubMixin``, the ``hf`` CLI) talks to it through ``HF_ENDPOINT`` exactly as it talks to
huggingface.co, so tests exercise the real upload and download code paths. It lives under
``tests/`` because it fakes a SaaS; nothing in the product imports it.

What it models (request/response shapes read from huggingface_hub 2.4 ``hf_api.py``,
``_commit_api.py``, ``lfs.py``, ``file_download.py``, ``utils/_http.py``):

- users and tokens (``Authorization: Bearer``), namespaces (user + orgs), public and private repos
  (a private repo answers 401 ``RepoNotFound`` without a token and 404 with a foreign one);
- git-like history: each commit snapshots the whole file map and gets a new sha; branches point at
  commits; a revision is a branch name or a full commit sha; commits are atomic (validated whole,
  applied under a lock, optional ``parentCommit`` check);
- regular files inline in the NDJSON commit, LFS files through the batch API and a signed PUT to a
  second "CDN" origin (another port), downloads of LFS files as a 302 to a signed CDN URL with
  ``X-Linked-Etag``/``X-Linked-Size`` (the client stops following redirects off the Hub origin and
  drops the token, as with the real CDN).

Everything is kept in memory: test repos are small.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import parse_qs, quote, unquote

import yaml

REPO_TYPES = ("model", "dataset", "space")
URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub stores files >= 10 MB with LFS whatever their content
GITATTRIBUTES_LFS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.onnx", "*.npz", "*.h5", "*.zip")
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in GITATTRIBUTES_LFS).encode()


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class User:
    name: str
    token: str
    orgs: tuple[str, ...] = ()

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.name, *self.orgs)


@dataclass(frozen=True)
class Entry:
    """One file in a commit. ``data`` holds regular files; LFS files point into the blob store."""

    size: int
    git_oid: str  # sha1 of the blob (regular) or of the LFS pointer (LFS)
    data: bytes | None = None
    lfs_sha256: str | None = None

    @property
    def is_lfs(self) -> bool:
        return self.lfs_sha256 is not None


@dataclass(frozen=True)
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str
    files: Mapping[str, Entry]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]


class HubError(Exception):
    """An HTTP error answer, with the ``X-Error-Code`` the client maps to typed exceptions."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class HubState:
    """Repos, users and blobs, shared by all request threads; mutations hold ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.users: dict[str, User] = {}  # by token
        self.blobs: dict[str, bytes] = {}  # LFS store, by sha256
        self.secret = secrets.token_bytes(16)
        self.counter = 0

    # -- signing of CDN URLs (no Authorization header travels to the CDN) --
    def sign(self, action: str, sha256: str) -> str:
        return hmac.new(self.secret, f"{action}:{sha256}".encode(), hashlib.sha256).hexdigest()

    def check_signature(self, action: str, sha256: str, sig: str | None) -> None:
        if not sig or not hmac.compare_digest(sig, self.sign(action, sha256)):
            raise HubError(403, "Request signature does not match")

    def new_commit(self, repo: Repo, parent: str | None, files: Mapping[str, Entry], title: str, message: str,
                   author: str) -> Commit:
        with self.lock:
            self.counter += 1
            listing = "\n".join(f"{p} {e.git_oid}" for p, e in sorted(files.items()))
            seed = f"{repo.repo_id}\n{parent}\n{listing}\n{title}\n{message}\n{self.counter}".encode()
            commit = Commit(hashlib.sha1(seed).hexdigest(), parent, title, message, author, _now(),
                            MappingProxyType(dict(files)))
            repo.commits[commit.oid] = commit
            return commit


def _regular_entry(data: bytes) -> Entry:
    return Entry(size=len(data), git_oid=git_blob_sha1(data), data=data)


def _lfs_entry(sha256: str, size: int) -> Entry:
    return Entry(size=size, git_oid=git_blob_sha1(lfs_pointer(sha256, size)), lfs_sha256=sha256)


def _card_data(commit: Commit) -> dict[str, Any] | None:
    """YAML front matter of README.md, as the Hub exposes it in ``cardData``."""
    entry = commit.files.get("README.md")
    if entry is None or entry.data is None:
        return None
    text = entry.data.decode("utf-8", "replace")
    if not text.startswith("---"):
        return None
    try:
        front = text.split("---", 2)[1]
        data = yaml.safe_load(front)
    except (IndexError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


class Handler(BaseHTTPRequestHandler):
    """One request. ``self.server`` is a :class:`_Server` carrying the shared state and its role."""

    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    server: _Server

    # ------------------------------------------------------------------ plumbing
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # requests are recorded in HubServer.requests instead of printed

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        raw_path, _, query = self.path.partition("?")
        self.query = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        self.segments = [unquote(s) for s in raw_path.split("/")[1:]]
        self._body: bytes | None = None
        status = 500
        try:
            route = self.server.hub._cdn_route if self.server.role == "cdn" else self.server.hub._hub_route
            status = route(self, method)
        except HubError as err:
            status = err.status
            self._send_json({"error": err.message}, err.status, {
                **({"X-Error-Code": err.code} if err.code else {}), "X-Error-Message": err.message, **err.headers})
        except Exception as err:  # a bug in the double: answer 500 instead of hanging the client
            self._send_json({"error": f"{type(err).__name__}: {err}"}, 500)
        finally:
            self.server.hub.requests.append((method, self.path, status))

    def body(self) -> bytes:
        if self._body is None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self._body = b"".join(chunks)
            else:
                self._body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return self._body

    def json_body(self) -> Any:
        try:
            return json.loads(self.body() or b"{}")
        except json.JSONDecodeError as err:
            raise HubError(400, f"Invalid JSON body: {err}") from err

    def user(self) -> User | None:
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        user = self.server.hub.state.users.get(auth[7:].strip())
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def send(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None,
             content_type: str = "application/octet-stream") -> int:
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", content_type)
        headers.setdefault("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        return status

    def _send_json(self, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> int:
        # Drain an unread request body so the keep-alive connection stays in sync.
        if self._body is None and self.command in ("POST", "PUT"):
            try:
                self.body()
            except (OSError, ValueError):
                pass
        return self.send(status, json.dumps(payload).encode(), headers, "application/json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], hub: HubServer, role: str) -> None:
        super().__init__(address, Handler)
        self.hub, self.role = hub, role


class HubServer:
    """The Hub double: a Hub origin and a CDN origin on two free ports of ``host``.

    Use as a context manager or call :meth:`start` / :meth:`stop`. ``endpoint`` is what
    ``HF_ENDPOINT`` must be set to; ``token`` is a write token of user ``user`` (member of org ``org``).
    """

    def __init__(self, host: str = "127.0.0.1", user: str = "microexp-tester", org: str = "microexp") -> None:
        self.host = host
        self.state = HubState()
        self.requests: list[tuple[str, str, int]] = []
        self.user = user
        self.org = org
        self.token = self.add_user(user, orgs=(org,))
        self._servers: list[_Server] = []
        self.endpoint = ""
        self.cdn_endpoint = ""

    # ------------------------------------------------------------------ lifecycle and helpers
    def start(self) -> HubServer:
        for role in ("hub", "cdn"):
            server = _Server((self.host, 0), self, role)
            threading.Thread(target=server.serve_forever, name=f"hub-double-{role}", daemon=True).start()
            self._servers.append(server)
        self.endpoint = f"http://{self.host}:{self._servers[0].server_address[1]}"
        self.cdn_endpoint = f"http://{self.host}:{self._servers[1].server_address[1]}"
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_user(self, name: str, orgs: tuple[str, ...] = (), token: str | None = None) -> str:
        """Register a user and return its token."""
        token = token or f"hf_{name.replace('-', '')}_{secrets.token_hex(8)}"
        self.state.users[token] = User(name, token, tuple(orgs))
        return token

    def env(self, hf_home: str) -> dict[str, str]:
        """Environment variables that point a ``huggingface_hub`` process (the ``hf`` CLI) at this double."""
        return {
            "HF_ENDPOINT": self.endpoint,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HOME": str(hf_home),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_TOKEN": self.token,
        }

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        return self.state.repos[(repo_type, repo_id)]

    def history(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> list[Commit]:
        """Commits reachable from ``revision``, newest first."""
        repo = self.repo(repo_id, repo_type)
        commit: Commit | None = self._resolve(repo, revision)
        out = []
        while commit is not None:
            out.append(commit)
            commit = repo.commits.get(commit.parent) if commit.parent else None
        return out

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        """Contents of every file at ``revision``."""
        commit = self._resolve(self.repo(repo_id, repo_type), revision)
        return {p: e.data if e.data is not None else self.state.blobs[e.lfs_sha256] for p, e in commit.files.items()}

    # ------------------------------------------------------------------ lookups
    def _resolve(self, repo: Repo, revision: str) -> Commit:
        oid = repo.branches.get(revision) or (revision if revision in repo.commits else None)
        if oid is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo.commits[oid]

    def _read_repo(self, h: Handler, repo_type: str, repo_id: str) -> tuple[Repo, User | None]:
        user = h.user()
        repo = self.state.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and (user is None or repo.namespace not in user.namespaces)):
            raise HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")
        return repo, user

    def _write_repo(self, h: Handler, repo_type: str, repo_id: str) -> tuple[Repo, User]:
        repo, user = self._read_repo(h, repo_type, repo_id)
        if user is None or repo.namespace not in user.namespaces:
            raise HubError(403 if user else 401, f"You don't have write access to {repo_id}")
        return repo, user

    def _url_prefix(self, repo_type: str, repo_id: str) -> str:
        return f"{self.endpoint}/{URL_PREFIXES[repo_type]}{repo_id}"

    # ------------------------------------------------------------------ routing
    def _hub_route(self, h: Handler, method: str) -> int:
        s = h.segments
        if s[:1] == ["api"]:
            if s[1:] == ["whoami-v2"] and method == "GET":
                return self._whoami(h)
            if s[1:] == ["repos", "create"] and method == "POST":
                return self._create_repo(h)
            if s[1:] == ["repos", "delete"] and method == "DELETE":
                return self._delete_repo(h)
            if s[1:] == ["validate-yaml"] and method == "POST":
                return self._validate_yaml(h)
            if s[1:] == ["agent-harnesses"] and method == "GET":  # the `hf` CLI asks; nothing to report
                return h._send_json({"standardEnvVars": [], "harnesses": {}})
            if len(s) >= 4 and s[1] in ("models", "datasets", "spaces"):
                return self._repo_api(h, method, s[1][:-1], f"{s[2]}/{s[3]}", s[4:])
            raise HubError(404, f"Unknown API route /{'/'.join(s)}")
        repo_type = "model"
        if s and s[0] in ("datasets", "spaces"):
            repo_type, s = s[0][:-1], s[1:]
        if len(s) >= 2 and s[1].endswith(".git") and s[2:5] == ["info", "lfs", "objects"]:
            repo_id = f"{s[0]}/{s[1][:-4]}"
            if s[5:] == ["batch"] and method == "POST":
                return self._lfs_batch(h, repo_type, repo_id)
            if s[5:] == ["verify"] and method == "POST":
                return self._lfs_verify(h, repo_type, repo_id)
        if len(s) >= 5 and s[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve_file(h, repo_type, f"{s[0]}/{s[1]}", s[3], "/".join(s[4:]))
        raise HubError(404, f"Not found: {h.path}")

    def _repo_api(self, h: Handler, method: str, repo_type: str, repo_id: str, rest: list[str]) -> int:
        if not rest and method == "GET":
            return self._info(h, repo_type, repo_id, "main")
        action, args = rest[0] if rest else "", rest[1:]
        if action == "revision" and args and method == "GET":
            return self._info(h, repo_type, repo_id, args[0])
        if action == "tree" and args and method == "GET":
            return self._tree(h, repo_type, repo_id, args[0], "/".join(args[1:]))
        if action == "preupload" and args and method == "POST":
            return self._preupload(h, repo_type, repo_id, args[0])
        if action == "commit" and args and method == "POST":
            return self._commit(h, repo_type, repo_id, args[0])
        if action == "commits" and args and method == "GET":
            return self._commits(h, repo_type, repo_id, args[0])
        if action == "refs" and method == "GET":
            return self._refs(h, repo_type, repo_id)
        if action == "branch" and args and method in ("POST", "DELETE"):
            return self._branch(h, method, repo_type, repo_id, args[0])
        if action == "settings" and method == "PUT":
            return self._settings(h, repo_type, repo_id)
        raise HubError(404, f"Unknown repo API route {action!r}")

    # ------------------------------------------------------------------ account and repos
    def _whoami(self, h: Handler) -> int:
        user = h.user()
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return h._send_json({
            "type": "user", "id": hashlib.sha1(user.name.encode()).hexdigest()[:24], "name": user.name,
            "fullname": user.name, "email": None, "emailVerified": False, "isPro": False,
            "orgs": [{"type": "org", "name": org, "fullname": org, "roleInOrg": "write"} for org in user.orgs],
            "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}},
        })

    def _create_repo(self, h: Handler) -> int:
        user = h.user()
        payload = h.json_body()
        name, namespace = payload.get("name"), payload.get("organization") or (user.name if user else None)
        repo_type = payload.get("type") or "model"
        if user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        if not name or repo_type not in REPO_TYPES:
            raise HubError(400, "Invalid repo name or type")
        repo_id = f"{namespace}/{name}"
        url = self._url_prefix(repo_type, repo_id)
        if namespace not in user.namespaces:
            raise HubError(403, f"You don't have the rights to create a {repo_type} under the namespace {namespace}")
        with self.state.lock:
            if (repo_type, repo_id) in self.state.repos:
                # The real Hub answers 409 with the url, which clients use with exist_ok=True.
                return h._send_json({"error": f"You already created this {repo_type} repo", "url": url}, 409)
            repo = Repo(repo_type, repo_id, payload.get("visibility", "public") == "private" or
                        bool(payload.get("private")), _now())
            first = self.state.new_commit(repo, None, {".gitattributes": _regular_entry(GITATTRIBUTES)},
                                          "initial commit", "", user.name)
            repo.branches["main"] = first.oid
            self.state.repos[(repo_type, repo_id)] = repo
        return h._send_json({"url": url, "name": repo_id, "id": repo_id}, 200)

    def _delete_repo(self, h: Handler) -> int:
        payload = h.json_body()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or (h.user().name if h.user() else '')}/{payload.get('name')}"
        self._write_repo(h, repo_type, repo_id)
        with self.state.lock:
            del self.state.repos[(repo_type, repo_id)]
        return h._send_json({})

    def _settings(self, h: Handler, repo_type: str, repo_id: str) -> int:
        repo, _ = self._write_repo(h, repo_type, repo_id)
        payload = h.json_body()
        if "private" in payload:
            repo.private = bool(payload["private"])
        if "visibility" in payload:
            repo.private = payload["visibility"] == "private"
        return h._send_json({"private": repo.private})

    def _validate_yaml(self, h: Handler) -> int:
        content = h.json_body().get("content") or ""
        if not content.startswith("---"):
            warning = {"message": "empty or missing yaml metadata in repo card"}
            return h._send_json({"errors": [], "warnings": [warning]})
        parts = content.split("---", 2)
        errors: list[str] = []
        try:
            data = yaml.safe_load(parts[1]) if len(parts) == 3 else None
            if len(parts) != 3:
                errors.append("YAML front matter is not closed by '---'")
            elif data is not None and not isinstance(data, dict):
                errors.append("YAML metadata must be a mapping")
            elif data:
                errors.extend(_model_index_errors(data.get("model-index")))
        except yaml.YAMLError as err:
            errors.append(f"Invalid YAML: {err}")
        if errors:
            return h._send_json({"errors": [{"message": e} for e in errors], "warnings": []}, 400)
        return h._send_json({"errors": [], "warnings": []})

    def _info(self, h: Handler, repo_type: str, repo_id: str, revision: str) -> int:
        repo, _ = self._read_repo(h, repo_type, repo_id)
        commit = self._resolve(repo, revision)
        card = _card_data(commit) or {}
        blobs = h.query.get("blobs", "").lower() in ("1", "true")
        siblings = []
        for path, entry in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=entry.size, blobId=entry.git_oid)
                if entry.is_lfs:
                    sibling["lfs"] = {"sha256": entry.lfs_sha256, "size": entry.size,
                                      "pointerSize": len(lfs_pointer(entry.lfs_sha256, entry.size))}
            siblings.append(sibling)
        return h._send_json({
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
            "author": repo.namespace, "sha": commit.oid, "lastModified": commit.date, "createdAt": repo.created_at,
            "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
            "tags": list(card.get("tags") or []), "library_name": card.get("library_name"),
            "pipeline_tag": card.get("pipeline_tag"), "cardData": card or None, "siblings": siblings,
        })

    def _tree(self, h: Handler, repo_type: str, repo_id: str, revision: str, path: str) -> int:
        repo, _ = self._read_repo(h, repo_type, repo_id)
        commit = self._resolve(repo, revision)
        recursive = h.query.get("recursive", "").lower() in ("1", "true")
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in commit.files):
            raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound",
                           {"X-Repo-Commit": commit.oid})
        out: dict[str, dict[str, Any]] = {}
        for file_path, entry in sorted(commit.files.items()):
            if not file_path.startswith(prefix):
                continue
            parts = file_path[len(prefix):].split("/")
            # Directories on the way to the file (only the first level unless recursive).
            for depth in range(1, len(parts) if recursive else min(2, len(parts))):
                folder = prefix + "/".join(parts[:depth])
                if folder not in out:
                    tree_id = hashlib.sha1(f"{commit.oid}:{folder}".encode()).hexdigest()
                    out[folder] = {"type": "directory", "oid": tree_id, "size": 0, "path": folder}
            if len(parts) > 1 and not recursive:
                continue
            item: dict[str, Any] = {"type": "file", "oid": entry.git_oid, "size": entry.size, "path": file_path}
            if entry.is_lfs:
                item["lfs"] = {"oid": entry.lfs_sha256, "size": entry.size,
                               "pointerSize": len(lfs_pointer(entry.lfs_sha256, entry.size))}
            out[file_path] = item
        return h._send_json(list(out.values()))

    def _commits(self, h: Handler, repo_type: str, repo_id: str, revision: str) -> int:
        self._read_repo(h, repo_type, repo_id)
        return h._send_json([
            {"id": c.oid, "title": c.title, "message": c.message, "date": c.date,
             "authors": [{"user": c.author, "avatar": None}]}
            for c in self.history(repo_id, revision, repo_type)
        ])

    def _refs(self, h: Handler, repo_type: str, repo_id: str) -> int:
        repo, _ = self._read_repo(h, repo_type, repo_id)
        branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": oid} for b, oid in repo.branches.items()]
        return h._send_json({"branches": branches, "converts": [], "tags": [], "pullRequests": []})

    def _branch(self, h: Handler, method: str, repo_type: str, repo_id: str, branch: str) -> int:
        repo, _ = self._write_repo(h, repo_type, repo_id)
        with self.state.lock:
            if method == "DELETE":
                if branch not in repo.branches or branch == "main":
                    raise HubError(404 if branch not in repo.branches else 403, f"Cannot delete branch {branch}")
                del repo.branches[branch]
                return h._send_json({})
            if branch in repo.branches:
                raise HubError(409, "Reference already exists")
            start = h.json_body().get("startingPoint") or "main"
            repo.branches[branch] = self._resolve(repo, start).oid
        return h._send_json({})

    # ------------------------------------------------------------------ uploads
    def _preupload(self, h: Handler, repo_type: str, repo_id: str, revision: str) -> int:
        repo, _ = self._write_repo(h, repo_type, repo_id)
        commit = self._resolve(repo, revision)
        files = []
        for item in h.json_body().get("files", []):
            path, size = item["path"], int(item["size"])
            sample = base64.b64decode(item.get("sample") or "")
            lfs = size >= LFS_THRESHOLD or b"\0" in sample or any(
                fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in GITATTRIBUTES_LFS)
            existing = commit.files.get(path)
            oid = None
            if existing is not None:  # the client skips unchanged files by comparing this oid
                oid = existing.lfs_sha256 if existing.is_lfs else existing.git_oid
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": oid})
        return h._send_json({"files": files, "commitOid": commit.oid})

    def _lfs_batch(self, h: Handler, repo_type: str, repo_id: str) -> int:
        self._write_repo(h, repo_type, repo_id)
        payload = h.json_body()
        if payload.get("operation") != "upload":
            raise HubError(400, "This test Hub only supports LFS uploads through the batch API")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if oid not in self.state.blobs:
                upload = f"{self.cdn_endpoint}/lfs/{oid}?size={size}&sig={self.state.sign('put', oid)}"
                verify = f"{self._url_prefix(repo_type, repo_id)}.git/info/lfs/objects/verify"
                item["actions"] = {"upload": {"href": upload, "header": {}},
                                   "verify": {"href": verify, "header": {}}}
            objects.append(item)
        return h._send_json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                            headers={"Content-Type": "application/vnd.git-lfs+json"})

    def _lfs_verify(self, h: Handler, repo_type: str, repo_id: str) -> int:
        self._write_repo(h, repo_type, repo_id)
        payload = h.json_body()
        blob = self.state.blobs.get(payload.get("oid", ""))
        if blob is None or len(blob) != int(payload.get("size", -1)):
            raise HubError(404, "LFS object not found or wrong size")
        return h._send_json({"message": "ok"})

    def _commit(self, h: Handler, repo_type: str, repo_id: str, revision: str) -> int:
        repo, user = self._write_repo(h, repo_type, repo_id)
        if h.query.get("create_pr") in ("1", "true"):
            raise HubError(400, "Pull requests are not supported by the test Hub")
        try:
            lines = [json.loads(line) for line in h.body().splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise HubError(400, f"Invalid NDJSON payload: {err}") from err
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first NDJSON line must be the commit header")
        header = lines[0]["value"]
        title = (header.get("summary") or "").strip()
        if not title:
            raise HubError(400, "Commit summary must not be empty")
        with self.state.lock:  # validate everything, then apply: a commit lands whole or not at all
            if revision not in repo.branches:
                raise HubError(404, f"Invalid rev id: {revision} (commits go to a branch)", "RevisionNotFound")
            head = repo.commits[repo.branches[revision]]
            parent = header.get("parentCommit")
            if parent is not None and parent != head.oid:
                raise HubError(412, f"A commit has happened since. Parent {parent} is not the head {head.oid}")
            files = dict(head.files)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = value.get("path", "")
                if not path or path.startswith("/") or ".." in path.split("/"):
                    raise HubError(400, f"Invalid path in commit: {path!r}")
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise HubError(400, "Only base64 inline files are supported")
                    files[path] = _regular_entry(base64.b64decode(value["content"]))
                elif key == "lfsFile":
                    blob = self.state.blobs.get(value.get("oid", ""))
                    if blob is None:
                        raise HubError(422, f"LFS object {value.get('oid')} for {path} was never uploaded")
                    if "size" in value and int(value["size"]) != len(blob):
                        raise HubError(422, f"LFS object size mismatch for {path}")
                    files[path] = _lfs_entry(value["oid"], len(blob))
                elif key == "deletedFile":
                    if path not in files:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                    del files[path]
                elif key == "deletedFolder":
                    folder = path.rstrip("/") + "/"
                    doomed = [p for p in files if p.startswith(folder)]
                    if not doomed:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for p in doomed:
                        del files[p]
                else:
                    raise HubError(400, f"Unknown commit operation {key!r}")
            commit = self.state.new_commit(repo, head.oid, files, title, header.get("description") or "", user.name)
            repo.branches[revision] = commit.oid
        return h._send_json({
            "success": True, "commitOid": commit.oid, "hookOutput": "", "pullRequestUrl": None,
            "commitUrl": f"{self._url_prefix(repo_type, repo_id)}/commit/{commit.oid}",
        })

    # ------------------------------------------------------------------ downloads
    def _resolve_file(self, h: Handler, repo_type: str, repo_id: str, revision: str, path: str) -> int:
        repo, _ = self._read_repo(h, repo_type, repo_id)
        commit = self._resolve(repo, revision)
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        headers = {"X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes"}
        if entry.is_lfs:
            # As on huggingface.co: 302 to a signed URL on another origin, metadata in X-Linked-* headers.
            sha = entry.lfs_sha256
            location = f"{self.cdn_endpoint}/lfs/{sha}?sig={self.state.sign('get', sha)}&name={quote(path)}"
            headers.update({"ETag": f'"{entry.git_oid}"', "X-Linked-Etag": f'"{sha}"',
                            "X-Linked-Size": str(entry.size), "Location": location})
            return h.send(302, b"", headers, "text/plain")
        headers["ETag"] = f'"{entry.git_oid}"'
        return _send_range(h, entry.data or b"", headers)

    def _cdn_route(self, h: Handler, method: str) -> int:
        s = h.segments
        if len(s) != 2 or s[0] != "lfs":
            raise HubError(404, "Not found")
        sha = s[1]
        if method == "PUT":
            self.state.check_signature("put", sha, h.query.get("sig"))
            data = h.body()
            if hashlib.sha256(data).hexdigest() != sha or len(data) != int(h.query.get("size", len(data))):
                raise HubError(400, "Uploaded content does not match the announced sha256/size")
            with self.state.lock:
                self.state.blobs[sha] = data
            return h.send(200, b"", {"ETag": f'"{sha}"'})
        if method in ("GET", "HEAD"):
            self.state.check_signature("get", sha, h.query.get("sig"))
            blob = self.state.blobs.get(sha)
            if blob is None:
                raise HubError(404, "Blob not found")
            return _send_range(h, blob, {"ETag": f'"{sha}"', "Accept-Ranges": "bytes"})
        raise HubError(405, "Method not allowed")


def _send_range(h: Handler, data: bytes, headers: dict[str, str]) -> int:
    """Answer a GET/HEAD with the whole body or a single ``bytes=a-b`` range (resumed downloads)."""
    spec = h.headers.get("Range", "")
    if spec.startswith("bytes=") and "," not in spec:
        first, _, last = spec[6:].partition("-")
        start = int(first) if first else max(len(data) - int(last or 0), 0)
        end = int(last) if first and last else len(data) - 1
        if start >= len(data):
            return h.send(416, b"", {**headers, "Content-Range": f"bytes */{len(data)}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return h.send(206, data[start:end + 1], headers)
    return h.send(200, data, headers)


def _model_index_errors(model_index: Any) -> list[str]:
    """The subset of the Hub's model-index schema the client relies on (names, tasks, metric values)."""
    if model_index is None:
        return []
    if not isinstance(model_index, list):
        return ["model-index must be a list"]
    errors = []
    for model in model_index:
        if not isinstance(model, dict) or not model.get("name"):
            errors.append("model-index entries need a name")
            continue
        for result in model.get("results") or []:
            if not isinstance(result, dict) or not isinstance(result.get("task"), dict) or \
                    not result["task"].get("type"):
                errors.append("model-index results need task.type")
                continue
            dataset = result.get("dataset")
            if not isinstance(dataset, dict) or not dataset.get("name") or not dataset.get("type"):
                errors.append("model-index results need dataset.name and dataset.type")
            for metric in result.get("metrics") or []:
                if not isinstance(metric, dict) or not metric.get("type") or "value" not in metric:
                    errors.append("model-index metrics need type and value")
    return errors
