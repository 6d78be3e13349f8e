"""A throwaway PostgreSQL cluster for tests: ``initdb`` in a temporary folder, a free port, gone after.

The server binaries come from the machine (Debian's ``postgresql`` package, which ``.ci/run``
installs). PostgreSQL refuses to run as root, so under root the cluster runs as the ``postgres``
user the package creates. Nothing here is skipped: without the binaries the fixture fails and says
what to install.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DATABASE = "lamina"
USER = "lamina"


def _binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)")
    return path


@contextmanager
def cluster(port: int) -> Iterator[str]:
    """Start a cluster listening on 127.0.0.1:``port``; yields a SQLAlchemy URL of an empty database."""
    owner: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="lamina-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        owner = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        os.chown(root, account.pw_uid, account.pw_gid)
    data, socket_dir, log = root / "data", root, root / "server.log"

    def run(*argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True, cwd=root, **owner)

    try:
        run(_binary("initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        run(_binary("pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start", "-o",
            f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off")
        try:
            run(_binary("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE)
            yield f"postgresql+psycopg://{USER}@127.0.0.1:{port}/{DATABASE}"
        finally:
            subprocess.run([_binary("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, cwd=root, **owner)
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or b"").decode(errors="replace")
        if log.exists():
            detail += log.read_text(errors="replace")
        raise RuntimeError(f"PostgreSQL test cluster: {' '.join(map(str, error.cmd))} failed:\n{detail}") from None
    finally:
        shutil.rmtree(root, ignore_errors=True)
