"""posthog-js's own files for pages (the snippet's ``array.js``, lazy extensions): a local
posthog-js package, or the published package fetched once from the npm registry and cached.

No npm binary is needed: the registry's per-version document
(``<registry>/posthog-js/<version>``) names the tarball and its integrity; the tarball is
fetched over plain HTTPS, checked against that integrity (``sha512-...``, else the ``shasum``)
and refused on a mismatch, and only the files the harness serves (``package/dist/*.js``) are
kept, in a folder per version that appears whole or not at all. Nothing is fetched until a page
asks for one of the files; a fetch that fails is remembered for the run (one reason, given to
every page that asks), so a dead network is not asked again and again. Only the SDK's static
files come in: nothing is sent but the two GET requests.

>>> files = PostHogJs.published("1.449.2", cache=Path("~/.cache/x/posthog-js").expanduser())
>>> files.dist()        # fetched and cached on first use, from the cache afterwards
PosixPath('/home/me/.cache/x/posthog-js/1.449.2')
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = [
    "DEFAULT_VERSION",
    "NPM_REGISTRY",
    "PostHogJs",
    "PostHogJsError",
    "fetch_posthog_js",
    "find_posthog_js",
    "is_version",
    "package_version",
    "user_cache_dir",
]

#: The posthog-js pages get when nothing else is configured: the version this plugin's init
#: script is proven against (``fixtures/package-lock.json``), so a run gets the same SDK every
#: time and a new posthog-js release never changes a verdict by itself.
DEFAULT_VERSION = "1.449.2"
#: The public npm registry (``analytics_npm_registry`` names a mirror instead).
NPM_REGISTRY = "https://registry.npmjs.org"
#: What the fixes are, for a reason that says posthog-js cannot be had.
FIXES = (
    "install posthog-js where the tests run (npm install posthog-js), set "
    "analytics_posthog_js / HYBRID_ANALYTICS_POSTHOG_JS to a posthog-js package folder, point "
    "analytics_npm_registry / HYBRID_ANALYTICS_NPM_REGISTRY at a registry this machine reaches, "
    "or run the tests once where the registry is reachable to fill the cache (README, 'Browser')"
)

_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
#: The files the harness serves: ``/static/<name>.js`` -> ``dist/<name>.js``.
_SERVED = re.compile(r"^[\w.-]+\.js$")
#: Written last into a cached version's folder: what was fetched, from where, checked how.
_MARKER = "hybrid-analytics.json"
_MAX_METADATA = 8 * 1024 * 1024
_MAX_TARBALL = 128 * 1024 * 1024
#: Integrity algorithms, strongest first.
_ALGORITHMS = ("sha512", "sha384", "sha256")


class PostHogJsError(Exception):
    """posthog-js cannot be had; the message says why and what to do."""


def is_version(text: str) -> bool:
    """Whether ``text`` is an exact version (``1.449.2``, ``2.0.0-beta.1``), not a range or tag."""
    return bool(_VERSION.match(text))


def package_version(dist: Path) -> str | None:
    """The version in the ``package.json`` beside a posthog-js ``dist/`` (``None``: none)."""
    try:
        data = json.loads((dist.parent / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return str(version) if version else None


def find_posthog_js(start: Path, configured: str | None = None) -> Path | None:
    """The ``dist/`` folder of a local posthog-js package, to serve the SDK's own files from.

    ``configured`` (the ``analytics_posthog_js`` ini key or ``HYBRID_ANALYTICS_POSTHOG_JS``)
    names a package folder; otherwise ``node_modules/posthog-js`` is looked for in ``start``,
    its ``fixtures/`` and their parents.
    """
    if configured:
        folder = Path(configured).expanduser()
        dist = folder if folder.name == "dist" else folder / "dist"
        return dist if (dist / "array.js").is_file() else None
    for base in (start, *start.parents):
        for candidate in (base / "node_modules", base / "fixtures" / "node_modules"):
            dist = candidate / "posthog-js" / "dist"
            if (dist / "array.js").is_file():
                return dist
    return None


def user_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the plugin caches when pytest's cache is off: ``$XDG_CACHE_HOME`` (an absolute
    path), else ``%LOCALAPPDATA%`` on Windows, else ``~/.cache``; in ``pytest-hybrid-analytics``.
    """
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        base = Path(xdg)
    elif os.name == "nt" and env.get("LOCALAPPDATA"):
        base = Path(env["LOCALAPPDATA"])
    else:
        base = Path.home() / ".cache"
    return base / "pytest-hybrid-analytics"


class PostHogJs:
    """Where pages get posthog-js's own files from: :meth:`local` or :meth:`published`.

    ``origin`` says, for the pytest header, why this one (``"node_modules found from the
    rootdir"``, ``"the default pin"``...).
    """

    def __init__(
        self,
        *,
        folder: Path,
        version: str | None,
        origin: str,
        registry: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        #: The ``dist/`` files are served from (for a published version, once it is fetched).
        self.folder = folder
        #: The version pages get (``None``: a local copy with no ``package.json``).
        self.version = version
        #: Why this posthog-js, for the header.
        self.origin = origin
        #: The registry a published version comes from (``None``: a local copy).
        self.registry = registry
        self.timeout = timeout
        self._lock = threading.Lock()
        self._failure: str | None = None

    @classmethod
    def local(cls, dist: Path, *, origin: str) -> PostHogJs:
        """A posthog-js package on this machine (its ``dist/``)."""
        return cls(folder=dist, version=package_version(dist), origin=origin)

    @classmethod
    def published(
        cls,
        version: str = DEFAULT_VERSION,
        *,
        cache: Path,
        registry: str = NPM_REGISTRY,
        origin: str = "the default pin",
        timeout: float = 60.0,
    ) -> PostHogJs:
        """The published posthog-js ``version``, fetched from ``registry`` on first use into
        ``cache/<version>``, or read from there when an earlier run fetched it."""
        if not is_version(version):
            raise ValueError(f"not an exact posthog-js version: {version!r}")
        return cls(
            folder=cache / version,
            version=version,
            origin=origin,
            registry=registry.rstrip("/"),
            timeout=timeout,
        )

    @property
    def cached(self) -> bool:
        """Whether the files are here: a local copy, or a published version fetched before."""
        return self.registry is None or _complete(self.folder)

    def dist(self) -> Path:
        """The folder to serve the files from, fetching the published version the first time
        (one fetch at a time; a failure is remembered and raised again, with no new request).

        Raises :class:`PostHogJsError` when there is none."""
        registry, version = self.registry, self.version
        if registry is None or version is None or _complete(self.folder):
            return self.folder
        with self._lock:
            if self._failure is not None:
                raise PostHogJsError(self._failure)
            if _complete(self.folder):  # fetched while this thread waited
                return self.folder
            try:
                return fetch_posthog_js(
                    version, registry=registry, into=self.folder, timeout=self.timeout
                )
            except PostHogJsError as error:
                self._failure = str(error)
                raise

    def describe(self) -> str:
        """Which posthog-js pages get, and from where, for the pytest header."""
        version = f"posthog-js {self.version}" if self.version else "posthog-js (no version known)"
        if self.registry is None:
            return f"{version} ({self.origin})"
        when = "cached" if _complete(self.folder) else "fetched on first use"
        return f"{version} ({self.origin}) from {self.registry}, {when}"


def fetch_posthog_js(
    version: str, *, registry: str = NPM_REGISTRY, into: Path, timeout: float = 60.0
) -> Path:
    """Fetch the published posthog-js ``version`` from the npm ``registry`` and keep its
    ``dist/*.js`` files in ``into`` (made whole or not at all); returns ``into``.

    The tarball must match the integrity the registry gives for it, or it is refused and
    nothing is kept. Raises :class:`PostHogJsError` with the reason and the fixes."""
    registry = registry.rstrip("/")
    url = f"{registry}/posthog-js/{quote(version, safe='')}"
    metadata = _json(_get(url, version, into, timeout, _MAX_METADATA, "application/json"), url)
    dist = metadata.get("dist") if isinstance(metadata, dict) else None
    tarball = str(dist.get("tarball") or "") if isinstance(dist, dict) else ""
    if not isinstance(dist, dict) or urlsplit(tarball).scheme not in ("http", "https"):
        raise PostHogJsError(
            f"the registry's document for posthog-js {version} ({url}) names no tarball: "
            "refused (is analytics_npm_registry an npm registry?)"
        )
    algorithm, expected = _integrity(dist, version, url)
    data = _get(tarball, version, into, timeout, _MAX_TARBALL, "application/octet-stream")
    if hashlib.new(algorithm, data).digest() != expected:
        raise PostHogJsError(
            f"posthog-js {version}'s tarball ({tarball}) does not match the integrity the "
            f"registry gives for it ({_given(dist)}): refused, nothing cached. A proxy or mirror "
            "altered it, or the download was cut short: run again, or set analytics_posthog_js "
            "/ HYBRID_ANALYTICS_POSTHOG_JS to a posthog-js package folder (README, 'Browser')"
        )
    files = _dist_files(data, version, tarball)
    _keep(files, into, {"version": version, "tarball": tarball, "integrity": _given(dist)})
    return into


def _given(dist: dict[str, Any]) -> str:
    """The integrity a registry document gives (``sha512-...``, else ``sha1:<shasum>``)."""
    if dist.get("integrity"):
        return str(dist["integrity"])
    return f"sha1:{dist.get('shasum')}"


def _complete(folder: Path) -> bool:
    return (folder / _MARKER).is_file() and (folder / "array.js").is_file()


def _get(url: str, version: str, into: Path, timeout: float, limit: int, accept: str) -> bytes:
    request = urllib.request.Request(
        url, headers={"Accept": accept, "User-Agent": "pytest-hybrid-analytics"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as error:
        error.close()  # its body is the answer's open connection
        if error.code == 404:
            raise PostHogJsError(
                f"posthog-js {version} is not on the registry ({url}: HTTP 404): set "
                "analytics_posthog_js_version / HYBRID_ANALYTICS_POSTHOG_JS_VERSION to a "
                "published version, e.g. "
                f"{DEFAULT_VERSION} (README, 'Browser')"
            ) from None
        raise _unreachable(version, url, f"HTTP {error.code} {error.reason}", into) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise _unreachable(version, url, str(reason), into) from None
    if len(data) > limit:
        raise PostHogJsError(
            f"{url} sent more than {limit // (1024 * 1024)} MB for posthog-js {version}: refused"
        )
    return data


def _unreachable(version: str, url: str, why: str, into: Path) -> PostHogJsError:
    return PostHogJsError(
        f"posthog-js {version} could not be fetched ({url}: {why}) and no copy is cached in "
        f"{into}: {FIXES}"
    )


def _json(data: bytes, url: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise PostHogJsError(f"{url} did not answer JSON: is it an npm registry?") from None


def _integrity(dist: dict[str, Any], version: str, url: str) -> tuple[str, bytes]:
    """The strongest checksum the registry gives: an SRI ``integrity``, else the sha1
    ``shasum``; none at all is a refusal."""
    found: dict[str, bytes] = {}
    for item in str(dist.get("integrity") or "").split():
        algorithm, _, digest = item.partition("-")
        if algorithm in _ALGORITHMS:
            try:
                found[algorithm] = base64.b64decode(digest.split("?")[0], validate=True)
            except ValueError:
                continue
    for algorithm in _ALGORITHMS:
        if algorithm in found:
            return algorithm, found[algorithm]
    shasum = str(dist.get("shasum") or "")
    if re.fullmatch(r"[0-9a-fA-F]{40}", shasum):
        return "sha1", bytes.fromhex(shasum)
    raise PostHogJsError(
        f"the registry gives no integrity or shasum for posthog-js {version} ({url}): refused, "
        "nothing cached"
    )


def _dist_files(data: bytes, version: str, tarball: str) -> dict[str, bytes]:
    """The ``package/dist/*.js`` files of a posthog-js tarball (regular files only, no
    sub-folders), after checking it is posthog-js ``version``."""
    files: dict[str, bytes] = {}
    manifest: Any = None
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                folder, _, name = member.name.removeprefix("./").rpartition("/")
                if member.name.removeprefix("./") == "package/package.json":
                    manifest = json.loads(_read(archive, member))
                elif folder == "package/dist" and _SERVED.match(name):
                    files[name] = _read(archive, member)
    except (tarfile.TarError, OSError, EOFError, ValueError) as error:
        raise PostHogJsError(
            f"posthog-js {version}'s tarball ({tarball}) cannot be read ({error}): refused"
        ) from None
    what = (manifest or {}).get("name"), (manifest or {}).get("version")
    if what != ("posthog-js", version) or "array.js" not in files:
        raise PostHogJsError(
            f"the tarball {tarball} is not posthog-js {version} with a dist/array.js "
            f"(package.json says {what[0]!r} {what[1]!r}): refused"
        )
    return files


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    stream = archive.extractfile(member)
    return stream.read() if stream is not None else b""


def _keep(files: dict[str, bytes], into: Path, marker: dict[str, Any]) -> None:
    """Write ``files`` into ``into`` whole or not at all: into a staging folder beside it,
    renamed into place at the end (another process that got there first wins)."""
    into.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{into.name}-", dir=into.parent))
    try:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        marker = {**marker, "files": sorted(files)}
        (staging / _MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if into.exists() and not _complete(into):
            shutil.rmtree(into, ignore_errors=True)  # a folder left half-made by hand
        try:
            os.rename(staging, into)
        except OSError:
            if not _complete(into):
                raise
    except OSError as error:
        raise PostHogJsError(
            f"posthog-js {marker['version']} was fetched but cannot be cached in {into} "
            f"({error}): make the folder writable, or set analytics_posthog_js / "
            "HYBRID_ANALYTICS_POSTHOG_JS to a posthog-js package folder"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
