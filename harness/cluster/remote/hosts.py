"""Run a command, read or write a file: on this machine or on a host reached over SSH.

`apply` and the remote cluster are written once against `Host`; the embedded lab uses
`LocalHost`, an inventory of real machines `SshHost`. SSH is asyncssh (well kept, host
keys checked against known_hosts by default, which we never turn off) behind a small
synchronous face: one connection per host, used by one thread at a time (a lock), since
a bench's fault timeline and its telemetry may both reach one host.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import subprocess
import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol, TypeVar

import asyncssh

from harness import commands
from harness.config.inventory import Inventory, Part
from harness.files import write_atomically

T = TypeVar("T")
log = logging.getLogger(__name__)


COMMAND_TIMEOUT_S = 120.0


class HostError(RuntimeError):
    """A host that cannot be reached or a command that failed; one line, names the host."""


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


class Host(Protocol):
    name: str

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float | None = COMMAND_TIMEOUT_S,
    ) -> CommandResult:
        """Run argv; stdin, when given, is the command's input (secrets go there, not argv).
        timeout None: as long as it runs."""
        ...

    def stream(self, argv: list[str], *, stdin: str, on_line: Callable[[str], None]) -> int:
        """Run argv until it ends (a reader ended by a kill), handing each line of its
        output to on_line as it comes; returns its exit status. What it says on stderr
        is logged."""
        ...

    def read_text(self, path: PurePosixPath) -> str | None:
        """The file's text, or None when it does not exist."""
        ...

    def write_text(self, path: PurePosixPath, text: str, mode: int) -> None:
        """Write atomically: a reader sees the old file or the new one, never half."""
        ...

    def exists(self, path: PurePosixPath) -> bool: ...

    def close(self) -> None: ...


class LocalHost:
    """This machine (the embedded lab)."""

    name = "localhost"

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float | None = COMMAND_TIMEOUT_S,
    ) -> CommandResult:
        try:
            done = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, **(env or {})},
                timeout=timeout,
            )
        except FileNotFoundError:
            raise commands.not_found(argv[0]) from None
        return CommandResult(done.returncode, done.stdout, done.stderr)

    def stream(self, argv: list[str], *, stdin: str, on_line: Callable[[str], None]) -> int:
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except FileNotFoundError:
            raise commands.not_found(argv[0]) from None
        with process:  # its pipes closed however it ends
            assert process.stdin and process.stdout and process.stderr
            # stderr read beside stdout: a full pipe would otherwise stop the command.
            said: list[str] = []
            stderr = process.stderr
            errors = threading.Thread(target=lambda: said.append(stderr.read()), daemon=True)
            errors.start()
            process.stdin.write(stdin)
            process.stdin.close()
            for line in process.stdout:
                on_line(line.rstrip("\n"))
            status = process.wait()
            errors.join()
        _log_said(self.name, argv, "".join(said))
        return status

    def read_text(self, path: PurePosixPath) -> str | None:
        try:
            return Path(path).read_text()
        except FileNotFoundError:
            return None

    def write_text(self, path: PurePosixPath, text: str, mode: int) -> None:
        write_atomically(Path(path), text, mode)

    def exists(self, path: PurePosixPath) -> bool:
        return Path(path).exists()

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class SshSettings:
    host: str
    port: int
    user: str
    identity: Path
    known_hosts: Path


class SshHost:
    """A host reached over SSH with key-based authentication only."""

    def __init__(self, name: str, settings: SshSettings) -> None:
        self.name = name
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None

    def _call(self, work: Awaitable[T]) -> T:
        with self._lock:
            return self._loop.run_until_complete(work)

    def _where(self) -> str:
        s = self.settings
        return f"{self.name} ({s.user}@{s.host}:{s.port})"

    def connect(self) -> None:
        s = self.settings
        if not s.identity.exists():
            raise HostError(f"{self._where()}: no private key at {s.identity}")
        if not s.known_hosts.exists():
            raise HostError(
                f"{self._where()}: no known_hosts file at {s.known_hosts}; "
                "host keys are always verified"
            )
        try:
            self._conn = self._call(
                asyncssh.connect(
                    s.host,
                    port=s.port,
                    username=s.user,
                    client_keys=[str(s.identity)],
                    known_hosts=str(s.known_hosts),
                    # Keys only: never ask for or send a password.
                    preferred_auth="publickey",
                    password=None,
                    agent_path=None,
                    connect_timeout=15,
                )
            )
            self._sftp = self._call(self._conn.start_sftp_client())
        except (OSError, asyncssh.Error) as error:
            raise HostError(f"{self._where()}: cannot connect: {error}") from None

    @property
    def _connection(self) -> asyncssh.SSHClientConnection:
        if self._conn is None:
            self.connect()
        assert self._conn is not None
        return self._conn

    @property
    def _files(self) -> asyncssh.SFTPClient:
        if self._sftp is None:
            self.connect()
        assert self._sftp is not None
        return self._sftp

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float | None = COMMAND_TIMEOUT_S,
    ) -> CommandResult:
        # Variables go on the command line (`env K=V cmd`): sshd's AcceptEnv usually
        # refuses them otherwise.
        prefix = ["env", *(f"{k}={v}" for k, v in (env or {}).items())] if env else []
        command = shlex.join(prefix + argv)
        try:
            done = self._call(
                self._connection.run(command, input=stdin, check=False, timeout=timeout)
            )
        except (OSError, asyncssh.Error) as error:
            raise HostError(f"{self._where()}: {command}: {error}") from None
        return _result(done)

    def run_many(
        self, commands: Sequence[list[str]], *, timeout: float | None = COMMAND_TIMEOUT_S
    ) -> list[CommandResult]:
        """Commands that do not depend on each other, each in its own session of the one
        connection, at once: one round trip's wait for all of them, not one each."""
        connection = self._connection
        runs = [connection.run(shlex.join(argv), check=False, timeout=timeout) for argv in commands]
        # Every one waited for, even after one fails: none is left running on the host.
        done = self._call(_all_of(runs))
        results = []
        for argv, one in zip(commands, done, strict=True):
            if isinstance(one, OSError | asyncssh.Error):
                raise HostError(f"{self._where()}: {shlex.join(argv)}: {one}") from None
            if isinstance(one, BaseException):
                raise one
            results.append(_result(one))
        return results

    def stream(self, argv: list[str], *, stdin: str, on_line: Callable[[str], None]) -> int:
        command = shlex.join(argv)
        try:
            status, said = self._call(_stream(self._connection, command, stdin, on_line))
        except (OSError, asyncssh.Error) as error:
            raise HostError(f"{self._where()}: {command}: {error}") from None
        _log_said(self._where(), argv, said)
        return status

    def read_text(self, path: PurePosixPath) -> str | None:
        try:
            return self._call(_sftp_read(self._files, str(path)))
        except asyncssh.SFTPNoSuchFile:
            return None
        except (OSError, asyncssh.Error) as error:
            raise HostError(f"{self._where()}: cannot read {path}: {error}") from None

    def write_text(self, path: PurePosixPath, text: str, mode: int) -> None:
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        try:
            self._call(_sftp_write(self._files, str(temporary), text, mode))
            self._call(self._files.posix_rename(str(temporary), str(path)))
        except (OSError, asyncssh.Error) as error:
            if self.exists(temporary):
                self._call(self._files.remove(str(temporary)))
            raise HostError(f"{self._where()}: cannot write {path}: {error}") from None

    def exists(self, path: PurePosixPath) -> bool:
        return bool(self._call(self._files.exists(str(path))))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._sftp is not None:
            self._sftp.exit()
        if self._conn is not None:
            self._conn.close()
            self._call(self._conn.wait_closed())
        # asyncssh leaves reader tasks behind; end them before the loop goes away.
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        if pending:
            self._call(_finish(pending))
        self._loop.close()


def run_together(host: Host, commands: Sequence[list[str]]) -> list[CommandResult]:
    """Commands that do not depend on each other: at once over SSH, one by one here (a
    local command costs no round trip)."""
    if isinstance(host, SshHost):
        return host.run_many(commands)
    return [host.run(argv) for argv in commands]


def _result(done: asyncssh.SSHCompletedProcess) -> CommandResult:
    # No exit status means the command died of a signal: never report that as success.
    status = done.exit_status if done.exit_status is not None else 255
    return CommandResult(status, str(done.stdout), str(done.stderr))


async def _all_of(
    runs: Sequence[Awaitable[asyncssh.SSHCompletedProcess]],
) -> list[asyncssh.SSHCompletedProcess | BaseException]:
    return list(await asyncio.gather(*runs, return_exceptions=True))


def _log_said(where: str, argv: list[str], said: str) -> None:
    if said.strip():
        log.debug("%s: %s said on stderr: %s", where, argv[0], said.strip()[-500:])


async def _stream(
    connection: asyncssh.SSHClientConnection,
    command: str,
    stdin: str,
    on_line: Callable[[str], None],
) -> tuple[int, str]:
    """The command's exit status (255: died of a signal) and its stderr, its stdout handed
    over line by line."""
    async with connection.create_process(command) as process:
        said = asyncio.ensure_future(process.stderr.read())
        process.stdin.write(stdin)
        process.stdin.write_eof()
        async for line in process.stdout:
            on_line(str(line).rstrip("\n"))
        done = await process.wait(check=False)
        status = done.exit_status if done.exit_status is not None else 255
        return status, str(await said)


async def _finish(tasks: set[asyncio.Task[object]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


async def _sftp_read(sftp: asyncssh.SFTPClient, path: str) -> str:
    async with sftp.open(path, "r") as handle:
        return str(await handle.read())


async def _sftp_write(sftp: asyncssh.SFTPClient, path: str, text: str, mode: int) -> None:
    async with sftp.open(path, "w", asyncssh.SFTPAttrs(permissions=mode)) as handle:
        await handle.write(text)
    await sftp.chmod(path, mode)


def ssh_host(inventory: Inventory, part: Part) -> SshHost:
    """The part's host, with the inventory's [ssh] defaults where the part says nothing."""
    ssh = inventory.ssh
    return SshHost(
        part.name,
        SshSettings(
            host=part.host,
            port=part.ssh_port or ssh.port,
            user=part.user or ssh.user,
            identity=Path(ssh.identity).expanduser(),
            known_hosts=Path(ssh.known_hosts).expanduser(),
        ),
    )
