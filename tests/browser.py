"""A real headless Chromium for browser tests, fetched from Debian's archive without root.

Debian's `chromium` package is downloaded with `apt-get download` (no root needed), unpacked with
`dpkg -x` into a cache folder together with the few shared libraries it needs that this image
lacks, and started through a small wrapper script that points `LD_LIBRARY_PATH` at them.
Playwright drives it via `executable_path=`; it never downloads a browser of its own.

    executable = chromium_executable(cache_dir() / "chromium")
    browser = await playwright.chromium.launch(
        executable_path=executable, headless=True, args=launch_args()
    )
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from shared.platform.runtime.host import exclusive

__all__ = ["PACKAGES", "chromium_executable", "launch_args"]

# Fetched at the candidate version apt knows; the cache folder is named after chromium's.
# A fixed list, checked with `ldd` (recursively) on Debian 12 for chromium 156: the libraries
# each one brings are those the bare image lacks. Everything else chromium links (GTK-free
# headless: nss, glib, cairo, pango, X11 client libs, fontconfig, ...) is already installed.
PACKAGES: tuple[str, ...] = (
    "chromium",  # the browser binary (usr/lib/chromium/chromium)
    # Depends: chromium (= same version); icudtl.dat, *.pak resources and locales, the V8
    # snapshots, chrome_crashpad_handler, ANGLE (libEGL/libGLESv2) and SwiftShader: without it
    # chromium aborts at start.
    "chromium-common",
    # Linked directly by chromium and missing from the image:
    "libopenh264-7",  # libopenh264.so.7 (WebRTC H.264)
    "libdouble-conversion3",  # libdouble-conversion.so.3
    "libharfbuzz-subset0",  # libharfbuzz-subset.so.0 (font subsetting for PDF)
    "libpulse0",  # libpulse.so.0 and pulseaudio/libpulsecommon-16.1.so (audio output)
    "libflac12",  # libFLAC.so.12
    "libopus0",  # libopus.so.0
    "libxnvctrl0",  # libXNVCtrl.so.0 (GPU info)
    "libminizip1",  # libminizip.so.1
    "libopenjp2-7",  # libopenjp2.so.7 (JPEG 2000 in PDFs)
    # Needed by the libraries above, also missing:
    "libogg0",  # libogg.so.0, by libFLAC and libsndfile
    "libsndfile1",  # libsndfile.so.1, by libpulsecommon
    "libasyncns0",  # libasyncns.so.0, by libpulsecommon
    "libvorbis0a",  # libvorbis.so.0, by libsndfile
    "libvorbisenc2",  # libvorbisenc.so.2, by libsndfile
    "libmpg123-0",  # libmpg123.so.0, by libsndfile
    "libmp3lame0",  # libmp3lame.so.0, by libsndfile
)

# Debian's /etc/chromium.d/dev-shm adds --disable-dev-shm-usage below this much free /dev/shm.
_SHM_NEEDED = 4_080_218_931  # 3.8 GB

_WRAPPER = """\
#!/bin/sh
# Written by tests/browser.py: Debian's chromium unpacked beside the libraries it lacks here.
root="$(dirname "$(readlink -f "$0")")"
export LD_LIBRARY_PATH="{lib_path}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"
exec "$root/usr/lib/chromium/chromium" --no-sandbox "$@"
"""


def launch_args() -> list[str]:
    """Chromium flags for a headless run in this sandbox (root, maybe a small /dev/shm)."""
    # Running as root needs --no-sandbox (the wrapper passes it too, as Playwright does by
    # default); the flags Playwright adds for headless=True suffice otherwise.
    args = ["--no-sandbox"]
    try:
        shm_free = shutil.disk_usage("/dev/shm").free
    except OSError:
        shm_free = 0
    if shm_free < _SHM_NEEDED:
        # Docker's default 64 MB /dev/shm crashes renderers; use $TMPDIR instead.
        args.append("--disable-dev-shm-usage")
    return args


def chromium_executable(cache: Path) -> Path:
    """Return a runnable chromium under `cache`, fetching and unpacking it the first time.

    The browser lives in `cache/chromium-<version>/`, built in a `.partial` sibling that is
    renamed only when complete; concurrent callers wait on `cache/chromium.lock`.
    """
    version = _candidate_version()
    target = cache / f"chromium-{version.replace(':', '%3a')}"
    wrapper = target / "chromium"
    if wrapper.is_file():
        return wrapper
    cache.mkdir(parents=True, exist_ok=True)
    with exclusive(cache / "chromium.lock"):
        if wrapper.is_file():
            return wrapper
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        with tempfile.TemporaryDirectory(dir=cache, prefix="debs-") as debs:
            pinned = [f"{p}={version}" if p.startswith("chromium") else p for p in PACKAGES]
            _run(["apt-get", "download", *pinned], cwd=Path(debs), timeout=600)
            files = sorted(Path(debs).glob("*.deb"))
            if len(files) != len(PACKAGES):
                raise RuntimeError(
                    f"`apt-get download` in {debs} gave {len(files)} .deb files, "
                    f"expected {len(PACKAGES)}: {[f.name for f in files]}"
                )
            for deb in files:
                _run(["dpkg", "-x", str(deb), str(staging)], cwd=staging, timeout=300)
        lib_dirs = _library_dirs(staging)
        lib_path = ":".join(f"$root/{d.relative_to(staging)}" for d in lib_dirs)
        (staging / "chromium").write_text(_WRAPPER.format(lib_path=lib_path))
        (staging / "chromium").chmod(0o755)
        _check_links(staging, lib_dirs)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return wrapper


def _candidate_version() -> str:
    """The chromium version `apt-get download chromium` would fetch (from apt's local lists)."""
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise RuntimeError("a browser test needs Debian's apt-get and dpkg to fetch chromium")
    output = _run(["apt-cache", "show", "--no-all-versions", "chromium"], cwd=None, timeout=60)
    for line in output.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError(f"`apt-cache show --no-all-versions chromium` named no Version:\n{output}")


def _library_dirs(root: Path) -> list[Path]:
    """The unpacked multiarch library folders, with libpulse's private one (its RUNPATH)."""
    dirs = sorted(p for p in (root / "usr/lib").glob("*-linux-gnu") if p.is_dir())
    return dirs + [d / "pulseaudio" for d in dirs if (d / "pulseaudio").is_dir()]


def _check_links(root: Path, lib_dirs: list[Path]) -> None:
    """Fail now, naming them, if chromium still lacks shared libraries (PACKAGES is stale)."""
    binary = root / "usr/lib/chromium/chromium"
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(str(d) for d in lib_dirs)}
    output = _run(["ldd", str(binary)], cwd=root, timeout=60, env=env)
    missing = [line.strip() for line in output.splitlines() if "not found" in line]
    if missing:
        raise RuntimeError(
            f"`ldd {binary}` reports libraries none of PACKAGES provides; add their Debian "
            f"packages to tests/browser.py: {missing}"
        )
    _run([str(root / "chromium"), "--version"], cwd=root, timeout=60)


def _run(
    command: list[str], *, cwd: Path | None, timeout: float, env: dict[str, str] | None = None
) -> str:
    """Run `command`, returning its stdout; raise RuntimeError naming it when it fails."""
    shown = " ".join(command)
    try:
        result = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"`{shown}` did not finish within {timeout:.0f} s") from None
    except OSError as error:
        raise RuntimeError(f"`{shown}` could not start: {error}") from None
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        hint = ""
        if command[0] == "apt-get":
            hint = " (stale apt lists? `apt-get update` needs root, or a newer image)"
        raise RuntimeError(f"`{shown}` failed with exit {result.returncode}{hint}:\n{tail}")
    return result.stdout
