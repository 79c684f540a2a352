//! Native server processes: find the binary, start it on a free loopback port in a
//! temporary directory, wait until it answers, and stop it on drop.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::error::{Result, TestkitError};

/// How long a server gets to answer its readiness probe unless told otherwise.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many log lines a failing test shows.
pub const LOG_TAIL_LINES: usize = 60;

/// The loopback host every native server binds to.
pub const LOCALHOST: &str = "127.0.0.1";

/// Another process may take a port between our probe-bind and the server's bind; the
/// server then exits saying so, and starting again on fresh ports is the cure.
const START_ATTEMPTS: usize = 5;

const LOG_FILE: &str = "server.log";

/// A server program and the Debian package(s) that install it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    name: &'static str,
    packages: &'static str,
    extra_dirs: &'static [&'static str],
}

impl Program {
    /// A program looked up on `PATH`; `packages` is what `apt-get install -y` needs
    /// (space-separated when more than one).
    pub const fn new(name: &'static str, packages: &'static str) -> Self {
        Self {
            name,
            packages,
            extra_dirs: &[],
        }
    }

    /// Also looks in these directories, for programs Debian puts off a user's `PATH`
    /// (`/usr/sbin`, `/usr/lib/postgresql/15/bin`).
    pub const fn also_in(self, dirs: &'static [&'static str]) -> Self {
        Self {
            extra_dirs: dirs,
            ..self
        }
    }

    /// The program's name, e.g. `redis-server`.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The Debian package(s) that provide it.
    pub const fn packages(&self) -> &'static str {
        self.packages
    }

    /// Finds the executable, or says what to install.
    pub fn locate(&self) -> Result<PathBuf> {
        if self.name.contains('/') {
            let path = PathBuf::from(self.name);
            return if is_executable(&path) {
                Ok(path)
            } else {
                Err(self.not_installed())
            };
        }
        let path_dirs = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default();
        path_dirs
            .into_iter()
            .chain(self.extra_dirs.iter().map(PathBuf::from))
            .map(|dir| dir.join(self.name))
            .find(|candidate| is_executable(candidate))
            .ok_or_else(|| self.not_installed())
    }

    fn not_installed(&self) -> TestkitError {
        let also_searched = if self.extra_dirs.is_empty() {
            String::new()
        } else {
            format!(" or in {}", self.extra_dirs.join(", "))
        };
        TestkitError::NotInstalled {
            program: self.name.to_owned(),
            packages: self.packages.to_owned(),
            also_searched,
        }
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Picks a free loopback port by binding port 0 and releasing it.
pub fn free_port() -> Result<u16> {
    let listener = reserve_port()?;
    local_port(&listener)
}

fn reserve_port() -> Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| TestkitError::io("binding 127.0.0.1:0 to pick a free port", e))
}

fn local_port(listener: &TcpListener) -> Result<u16> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| TestkitError::io("reading the picked port", e))
}

/// The private directory and port of a server that is about to start; the configure step
/// of [`Launcher::start`] writes its config files here and returns the command line.
#[derive(Debug)]
pub struct ServerDir {
    dir: TempDir,
    port: u16,
    /// Held until spawn so that extra ports picked for the same server stay distinct.
    reserved: Vec<TcpListener>,
}

impl ServerDir {
    fn new() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("authstate-testkit-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temporary directory", e))?;
        let listener = reserve_port()?;
        let port = local_port(&listener)?;
        Ok(Self {
            dir,
            port,
            reserved: vec![listener],
        })
    }

    /// The temporary directory (removed when the server is dropped).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The server's main port, the one the readiness probe targets.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Another free port for the same server (TLS port, cluster bus port, …).
    pub fn free_port(&mut self) -> Result<u16> {
        let listener = reserve_port()?;
        let port = local_port(&listener)?;
        self.reserved.push(listener);
        Ok(port)
    }

    /// Writes `contents` to `name` inside the directory and returns the full path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> Result<PathBuf> {
        let path = self.path().join(name);
        fs::write(&path, contents)
            .map_err(|e| TestkitError::io(format!("writing {}", path.display()), e))?;
        Ok(path)
    }

    /// Creates a subdirectory and returns its full path.
    pub fn create_dir(&self, name: &str) -> Result<PathBuf> {
        let path = self.path().join(name);
        fs::create_dir_all(&path)
            .map_err(|e| TestkitError::io(format!("creating {}", path.display()), e))?;
        Ok(path)
    }

    /// Runs a set-up tool to completion in this directory (e.g. `slapadd`, `initdb`),
    /// failing with its output when it does not succeed.
    pub fn run_tool(&self, program: &Program, args: &[OsString]) -> Result<()> {
        let exe = program.locate()?;
        let command_line = format!(
            "{} {}",
            exe.display(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let output = Command::new(&exe)
            .args(args)
            .current_dir(self.path())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| TestkitError::io(format!("running `{command_line}`"), e))?;
        if output.status.success() {
            return Ok(());
        }
        Err(TestkitError::ToolFailed {
            command: command_line,
            status: output.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        })
    }
}

/// Starts a [`NativeServer`]; made by [`NativeServer::launch`].
#[derive(Debug, Clone)]
pub struct Launcher {
    program: Program,
    ready_timeout: Duration,
    env: Vec<(OsString, OsString)>,
}

impl Launcher {
    /// How long the server may take to answer (default [`DEFAULT_READY_TIMEOUT`]).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Sets an environment variable for the server process.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Starts the server.
    ///
    /// `configure` gets a fresh [`ServerDir`] (directory + free port), writes whatever
    /// config the server needs and returns its arguments. `probe` is called with
    /// `127.0.0.1:port` until it returns `Ok` (TCP connect plus a protocol-level check);
    /// its errors are kept for the timeout message. Both may run more than once if the
    /// picked port turns out to be taken.
    pub fn start<C, P>(&self, mut configure: C, mut probe: P) -> Result<NativeServer>
    where
        C: FnMut(&mut ServerDir) -> Result<Vec<OsString>>,
        P: FnMut(SocketAddr) -> io::Result<()>,
    {
        let exe = self.program.locate()?;
        let mut attempt = 1;
        loop {
            let mut dir = ServerDir::new()?;
            let args = configure(&mut dir)?;
            match self.start_once(&exe, dir, &args, &mut probe) {
                // A taken port says "already in use" — or, for slapd at `-d 0`, nothing
                // at all (it exits 1 silently); a configuration error always says why.
                Err(TestkitError::Exited { log_tail, .. })
                    if attempt < START_ATTEMPTS
                        && (log_tail.contains("already in use") || log_tail.trim().is_empty()) =>
                {
                    tracing::debug!(program = self.program.name, "port taken, retrying");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn start_once(
        &self,
        exe: &Path,
        dir: ServerDir,
        args: &[OsString],
        probe: &mut dyn FnMut(SocketAddr) -> io::Result<()>,
    ) -> Result<NativeServer> {
        let ServerDir {
            dir,
            port,
            reserved,
        } = dir;
        let log_path = dir.path().join(LOG_FILE);
        let log = File::create(&log_path)
            .map_err(|e| TestkitError::io(format!("creating {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| TestkitError::io("duplicating the log file handle", e))?;
        drop(reserved);
        let child = Command::new(exe)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| TestkitError::io(format!("starting {}", exe.display()), e))?;
        tracing::debug!(
            program = self.program.name,
            port,
            pid = child.id(),
            "started"
        );
        // From here on, Drop kills the process on every early return.
        let mut server = NativeServer {
            program: self.program.name,
            child,
            port,
            log_path,
            dir,
            log_shown: false,
        };
        server.wait_ready(probe, self.ready_timeout)?;
        Ok(server)
    }
}

/// A server process on a private loopback port and temporary directory.
///
/// Dropping it kills and reaps the process and removes the directory. If the test is
/// panicking at that moment, or the server had died on its own, the end of the server's
/// log is printed to stderr so the failure report shows it.
#[derive(Debug)]
pub struct NativeServer {
    program: &'static str,
    child: Child,
    port: u16,
    log_path: PathBuf,
    /// Set once an error has carried the log tail, so Drop does not print it twice.
    log_shown: bool,
    // Dropped after the process is gone (see Drop), so the server never runs in a removed dir.
    dir: TempDir,
}

impl NativeServer {
    /// Prepares to start `program`; finish with [`Launcher::start`].
    pub fn launch(program: Program) -> Launcher {
        Launcher {
            program,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            env: Vec::new(),
        }
    }

    /// The program's name.
    pub fn program(&self) -> &'static str {
        self.program
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        LOCALHOST
    }

    /// The main port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where stdout and stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the server has written to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log_path.display()))
    }

    /// The last `lines` lines of [`log`](Self::log).
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log(), lines)
    }

    fn wait_ready(
        &mut self,
        probe: &mut dyn FnMut(SocketAddr) -> io::Result<()>,
        timeout: Duration,
    ) -> Result<()> {
        let addr = self.addr();
        let started = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            let last_error = match probe(addr) {
                Ok(()) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if let Some(status) = self.exit_status()? {
                self.log_shown = true;
                return Err(TestkitError::Exited {
                    program: self.program.to_owned(),
                    status,
                    log_tail: self.log_tail(LOG_TAIL_LINES),
                });
            }
            if started.elapsed() >= timeout {
                self.log_shown = true;
                return Err(TestkitError::NotReady {
                    program: self.program.to_owned(),
                    addr,
                    waited: started.elapsed(),
                    last_error,
                    log_tail: self.log_tail(LOG_TAIL_LINES),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    fn exit_status(&mut self) -> Result<Option<String>> {
        self.child
            .try_wait()
            .map(|s| s.map(|s| s.to_string()))
            .map_err(|e| TestkitError::io(format!("checking on {}", self.program), e))
    }
}

impl Drop for NativeServer {
    fn drop(&mut self) {
        let died = self.exit_status().ok().flatten();
        // Errors here mean the process is already gone; there is nothing else to do.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let reason = match (std::thread::panicking(), died) {
            (true, None) => "the test panicked".to_owned(),
            (true, Some(status)) => format!("the test panicked; it had exited ({status})"),
            (false, Some(status)) if !self.log_shown => {
                format!("it exited on its own ({status})")
            }
            _ => return,
        };
        eprintln!(
            "---- {} on port {}: {reason}; last {LOG_TAIL_LINES} lines of {} ----\n{}\n---- end of {} log ----",
            self.program,
            self.port,
            self.log_path.display(),
            self.log_tail(LOG_TAIL_LINES),
            self.program,
        );
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A probe that only checks that the port accepts TCP connections, for servers with no
/// cheap protocol-level check.
pub fn tcp_probe(addr: SocketAddr) -> io::Result<()> {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }
}
