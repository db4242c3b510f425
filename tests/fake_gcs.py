"""An offline stand-in for Google Cloud Storage, to test ``gs://`` workdirs end to end.

* :class:`FakeGCSServer`: an in-memory HTTP server speaking the subset of the GCS JSON
  API that TensorStore's ``gcs`` driver (orbax's array data) uses: media upload with
  generation preconditions, ranged media download, object metadata, prefix/delimiter
  listing, delete. TensorStore is pointed at it with ``TENSORSTORE_GCS_HTTP_URL`` and a
  fixed test token (``GOOGLE_AUTH_TOKEN_FOR_TESTING``): no credentials, no network.
* :class:`FakeGCSFileSystem`: an fsspec file system for ``gs://`` that talks to the same
  server, registered in place of gcsfs, so that ``etils.epath`` (orbax metadata and
  diffax's own files) reads and writes the very objects TensorStore does.

``python tests/fake_gcs.py MODULE ARGS...`` runs ``python -m MODULE ARGS...`` with the file
system registered (the server's URL comes from ``FAKE_GCS_URL``): how the tests run the
command line, kill it, and resume it against the same bucket.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import types
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fsspec
from fsspec.spec import AbstractFileSystem

_TOKEN = "diffax-fake-gcs-token"


class FakeGCSServer:
    """In-memory buckets served over HTTP on 127.0.0.1 (a daemon thread)."""

    def __init__(self):
        self.objects: dict[tuple[str, str], tuple[bytes, int]] = {}
        self.lock = threading.Lock()
        self.generation = 0
        self.requests: list[tuple[str, str]] = []
        self.unhandled: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

            def do_DELETE(self):
                server._handle(self, "DELETE")

            def do_HEAD(self):
                server._handle(self, "HEAD")

            def do_PUT(self):
                server._handle(self, "PUT")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- test helpers ------------------------------------------------------------------
    def names(self, bucket: str, prefix: str = "") -> list[str]:
        with self.lock:
            return sorted(n for (b, n) in self.objects if b == bucket and n.startswith(prefix))

    def get(self, bucket: str, name: str) -> bytes:
        return self.objects[(bucket, name)][0]

    def put(self, bucket: str, name: str, data: bytes) -> None:
        with self.lock:
            self.generation += 1
            self.objects[(bucket, name)] = (bytes(data), self.generation)

    def delete(self, bucket: str, name: str) -> None:
        with self.lock:
            del self.objects[(bucket, name)]

    # -- protocol ----------------------------------------------------------------------
    def _meta(self, bucket: str, name: str, data: bytes, gen: int) -> dict:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        return {"kind": "storage#object", "bucket": bucket, "name": name, "size": str(len(data)),
                "generation": str(gen), "metageneration": "1", "updated": stamp,
                "timeCreated": stamp, "contentType": "application/octet-stream"}

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urllib.parse.urlsplit(h.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        parts = url.path.split("/")
        self.requests.append((method, h.path))
        try:
            if parts[1:5] == ["upload", "storage", "v1", "b"] and method == "POST":
                return self._upload(h, parts[5], q, body)
            if parts[1:4] == ["storage", "v1", "b"]:
                bucket = parts[4]
                if len(parts) == 5:
                    return self._send_json(h, 200, {"kind": "storage#bucket", "name": bucket})
                if len(parts) == 6 and parts[5] == "o" and method == "GET":
                    return self._list(h, bucket, q)
                if len(parts) >= 7 and parts[5] == "o":
                    name = urllib.parse.unquote("/".join(parts[6:]))
                    if method in ("GET", "HEAD"):
                        return self._get(h, bucket, name, q)
                    if method == "DELETE":
                        return self._delete(h, bucket, name, q)
            self.unhandled.append((method, h.path))
            self._send_json(h, 501, {"error": {"code": 501, "message": "not in the fake"}})
        except BrokenPipeError:
            pass

    def _send(self, h, code: int, data: bytes = b"", headers: dict | None = None) -> None:
        h.send_response(code)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data and h.command != "HEAD":
            h.wfile.write(data)

    def _send_json(self, h, code: int, payload: dict) -> None:
        self._send(h, code, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _error(self, h, code: int, message: str) -> None:
        self._send_json(h, code, {"error": {"code": code, "message": message}})

    def _preconditions_fail(self, q: dict, gen: int | None) -> int | None:
        current = 0 if gen is None else gen
        if "ifGenerationMatch" in q and int(q["ifGenerationMatch"]) != current:
            return 412
        if "ifGenerationNotMatch" in q and int(q["ifGenerationNotMatch"]) == current:
            return 304
        return None

    def _upload(self, h, bucket: str, q: dict, body: bytes) -> None:
        if q.get("uploadType") != "media" or "name" not in q:
            self.unhandled.append(("POST", h.path))
            return self._error(h, 501, "only uploadType=media is faked")
        name = q["name"]
        with self.lock:
            old = self.objects.get((bucket, name))
            fail = self._preconditions_fail(q, old[1] if old else None)
            if fail:
                return self._error(h, 412, "precondition failed")
            self.generation += 1
            self.objects[(bucket, name)] = (body, self.generation)
            meta = self._meta(bucket, name, body, self.generation)
        self._send_json(h, 200, meta)

    def _get(self, h, bucket: str, name: str, q: dict) -> None:
        with self.lock:
            obj = self.objects.get((bucket, name))
        if obj is None:
            return self._error(h, 404, f"no such object: {bucket}/{name}")
        data, gen = obj
        fail = self._preconditions_fail(q, gen)
        if fail == 304:
            return self._send(h, 304, b"", {"x-goog-generation": str(gen)})
        if fail:
            return self._error(h, fail, "precondition failed")
        if q.get("alt") != "media":
            return self._send_json(h, 200, self._meta(bucket, name, data, gen))
        headers = {"Content-Type": "application/octet-stream", "x-goog-generation": str(gen),
                   "x-goog-metageneration": "1", "x-goog-stored-content-length": str(len(data))}
        rng = h.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start_s, end_s = rng[len("bytes="):].split("-", 1)
            if start_s == "":  # suffix range: the last N bytes
                start, end = max(len(data) - int(end_s), 0), len(data) - 1
            else:
                start = int(start_s)
                end = min(int(end_s), len(data) - 1) if end_s else len(data) - 1
            if start >= len(data) and len(data) > 0:
                return self._send(h, 416, b"", {"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(h, 206, data[start:end + 1], headers)
        self._send(h, 200, data, headers)

    def _delete(self, h, bucket: str, name: str, q: dict) -> None:
        with self.lock:
            obj = self.objects.get((bucket, name))
            if obj is None:
                return self._error(h, 404, f"no such object: {bucket}/{name}")
            if self._preconditions_fail(q, obj[1]):
                return self._error(h, 412, "precondition failed")
            del self.objects[(bucket, name)]
        self._send(h, 204)

    def _list(self, h, bucket: str, q: dict) -> None:
        prefix, delim = q.get("prefix", ""), q.get("delimiter", "")
        start, end = q.get("startOffset", ""), q.get("endOffset")
        items, prefixes = [], set()
        with self.lock:
            snapshot = sorted((n, d, g) for (b, n), (d, g) in self.objects.items() if b == bucket)
        for name, data, gen in snapshot:
            if not name.startswith(prefix) or name < start or (end and name >= end):
                continue
            rest = name[len(prefix):]
            if delim and delim in rest:
                prefixes.add(prefix + rest.split(delim, 1)[0] + delim)
            else:
                items.append(self._meta(bucket, name, data, gen))
        payload = {"kind": "storage#objects", "items": items}
        if prefixes:
            payload["prefixes"] = sorted(prefixes)
        self._send_json(h, 200, payload)


class _UploadOnClose(io.BytesIO):
    def __init__(self, fs: "FakeGCSFileSystem", path: str):
        super().__init__()
        self.fs, self.path = fs, path

    def close(self) -> None:
        if not self.closed:
            self.fs._upload(self.path, self.getvalue())
        super().close()


class FakeGCSFileSystem(AbstractFileSystem):
    """fsspec ``gs://`` client of a :class:`FakeGCSServer` (URL from ``FAKE_GCS_URL``)."""

    protocol = ("gs", "gcs")
    root_marker = ""

    def __init__(self, *args, **kwargs):
        kwargs.pop("finalize_on_close", None)
        super().__init__(*args, **kwargs)
        self.url = os.environ["FAKE_GCS_URL"]

    @classmethod
    def _strip_protocol(cls, path):
        path = os.fspath(path)
        for p in ("gs://", "gcs://"):
            if path.startswith(p):
                path = path[len(p):]
        return path.rstrip("/")

    def _split(self, path: str) -> tuple[str, str]:
        path = self._strip_protocol(path)
        bucket, _, name = path.partition("/")
        return bucket, name

    def _request(self, method: str, url: str, data: bytes | None = None):
        req = urllib.request.Request(self.url + url, data=data, method=method)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def _upload(self, path: str, data: bytes) -> None:
        bucket, name = self._split(path)
        code, body = self._request("POST", f"/upload/storage/v1/b/{bucket}/o?uploadType=media&"
                                   f"name={urllib.parse.quote(name, safe='')}", data)
        if code != 200:
            raise OSError(f"fake gcs upload {path}: {code} {body!r}")

    def _object(self, path: str, media: bool):
        bucket, name = self._split(path)
        suffix = "?alt=media" if media else ""
        return self._request("GET", f"/storage/v1/b/{bucket}/o/"
                             f"{urllib.parse.quote(name, safe='')}{suffix}")

    def _listing(self, path: str, delimiter: str = "/") -> tuple[list[dict], list[str]]:
        bucket, name = self._split(path)
        prefix = name + "/" if name else ""
        code, body = self._request("GET", f"/storage/v1/b/{bucket}/o?prefix="
                                   f"{urllib.parse.quote(prefix, safe='')}&delimiter={delimiter}")
        payload = json.loads(body)
        return payload.get("items", []), payload.get("prefixes", [])

    def info(self, path, **kwargs):
        bucket, name = self._split(path)
        if not name:
            return {"name": bucket, "size": 0, "type": "directory"}
        code, body = self._object(path, media=False)
        if code == 200:
            meta = json.loads(body)
            return {"name": f"{bucket}/{name}", "size": int(meta["size"]), "type": "file"}
        items, prefixes = self._listing(path)
        if items or prefixes:
            return {"name": f"{bucket}/{name}", "size": 0, "type": "directory"}
        raise FileNotFoundError(path)

    def ls(self, path, detail=True, **kwargs):
        bucket, name = self._split(path)
        items, prefixes = self._listing(path)
        if not items and not prefixes:
            info = self.info(path)  # a file, or FileNotFoundError
            return [info] if detail else [info["name"]]
        out = [{"name": f"{bucket}/{p.rstrip('/')}", "size": 0, "type": "directory"}
               for p in prefixes]
        out += [{"name": f"{bucket}/{i['name']}", "size": int(i["size"]), "type": "file"}
                for i in items]
        return out if detail else [o["name"] for o in out]

    def _open(self, path, mode="rb", **kwargs):
        if "r" in mode:
            code, body = self._object(path, media=True)
            if code != 200:
                raise FileNotFoundError(path)
            return io.BytesIO(body)
        if "w" in mode:
            return _UploadOnClose(self, path)
        raise NotImplementedError(f"fake gcs: mode {mode!r}")

    def cat_file(self, path, start=None, end=None, **kwargs):
        with self._open(path) as f:
            return f.read()[start:end]

    def mkdir(self, path, create_parents=True, **kwargs):
        pass

    def makedirs(self, path, exist_ok=False):
        pass

    def rmdir(self, path):
        pass

    def rm_file(self, path):
        bucket, name = self._split(path)
        self._request("DELETE", f"/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}")

    def _rm(self, path):
        self.rm_file(path)

    def rm(self, path, recursive=False, maxdepth=None):
        paths = path if isinstance(path, list) else [path]
        for p in paths:
            if self.isdir(p):
                if not recursive:
                    raise IsADirectoryError(p)
                for f in self.find(p):
                    self.rm_file(f)
            else:
                self.rm_file(p)

    def cp_file(self, path1, path2, **kwargs):
        code, body = self._object(path1, media=True)
        if code != 200:
            raise FileNotFoundError(path1)
        self._upload(path2, body)


class _FakeStorageClient:
    """What orbax asks google-cloud-storage when it deletes a step on ``gs://``: whether the
    bucket has a hierarchical namespace (the fake's buckets are flat)."""

    def get_bucket(self, name: str):
        return types.SimpleNamespace(name=name, hierarchical_namespace_enabled=False)


def register() -> None:
    """Serve ``gs://`` and ``gcs://`` through :class:`FakeGCSFileSystem` in this process,
    and stand in for ``google.cloud.storage`` (orbax imports it to delete old steps)."""
    for proto in ("gs", "gcs"):
        fsspec.register_implementation(proto, FakeGCSFileSystem, clobber=True)
    storage = types.ModuleType("google.cloud.storage")
    storage.Client = _FakeStorageClient
    sys.modules["google.cloud.storage"] = storage
    import google.cloud

    google.cloud.storage = storage
    from etils.epath import backend

    backend.fsspec_backend._get_filesystem.cache_clear()


def environment(server: FakeGCSServer) -> dict[str, str]:
    """Environment variables that send TensorStore and the fsspec client to ``server``."""
    return {"FAKE_GCS_URL": server.url, "TENSORSTORE_GCS_HTTP_URL": server.url,
            "GOOGLE_AUTH_TOKEN_FOR_TESTING": _TOKEN}


if __name__ == "__main__":
    import runpy

    register()
    module, sys.argv = sys.argv[1], [sys.argv[1], *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
