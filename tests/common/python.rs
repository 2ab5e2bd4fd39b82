//! Python peers for the interop tests: the interpreter, a virtual environment with Panda3D
//! under the target directory (made on first use), and child processes killed on drop.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

/// The system's Python 3.
pub fn python3() -> PathBuf {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the interop tests need `python3` on PATH (Python 3 with the venv module); install it and run again"
    );
    PathBuf::from("python3")
}

/// A Python with `panda3d` importable: a venv under the target directory, made and filled
/// from PyPI on first use.
pub fn panda_python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(make_panda_venv)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn make_panda_venv() -> Result<PathBuf, String> {
    make_venv(
        "interop-venv",
        "panda3d>=1.10,<1.11",
        "import panda3d.core",
        "the Panda3D interop tests need Python 3 with venv and pip, and PyPI to install `panda3d`",
    )
}

/// A Python with the `websockets` package importable: a venv under the target directory,
/// made and filled from PyPI on first use.
pub fn websockets_python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            make_venv(
                "ws-venv",
                "websockets>=12,<16",
                "import websockets.sync.client",
                "the WebSocket interop tests need Python 3 with venv and pip, and PyPI to install `websockets`",
            )
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Whether the system's Python can make virtual environments (with pip).
pub fn has_venv() -> bool {
    Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A venv at `target/tmp/DIR` in which `check` runs, made and filled with `package` from
/// PyPI on first use; its Python.
pub fn make_venv(dir: &str, package: &str, check: &str, hint: &str) -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
    let python = venv.join("bin").join("python");
    let has = |python: &Path| {
        Command::new(python)
            .args(["-c", check])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if has(&python) {
        return Ok(python);
    }
    run(
        Command::new(python3())
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        &format!(
            "making a virtual environment at {} ({hint})",
            venv.display()
        ),
    )?;
    run(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            package,
        ]),
        &format!("installing {package} into {} ({hint})", venv.display()),
    )?;
    if has(&python) {
        Ok(python)
    } else {
        Err(format!(
            "{package} was installed but does not import ({hint})"
        ))
    }
}

/// The path of a script in `tests/interop/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
        .join(name)
}

/// A child process killed when dropped, with its stdout read line by line (by a thread of
/// its own, so that waiting for a line is bounded).
pub struct Peer {
    child: Child,
    lines: Lines,
    what: String,
}

/// How long a Python peer may take to say its next line, or to end.
const PEER_WAIT: Duration = Duration::from_secs(60);

impl Peer {
    pub fn spawn(python: &Path, script_name: &str, args: &[String]) -> Peer {
        let mut child = Command::new(python)
            .arg(script(script_name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script_name}: {e}"));
        let what = format!("{script_name} {}", args.join(" "));
        let lines = Lines::of(child.stdout.take().unwrap(), &what);
        Peer { child, lines, what }
    }

    /// The next line; panics (naming the peer) when it ended without one or said nothing
    /// for a minute.
    pub fn line(&mut self) -> String {
        match self.lines.next_within(PEER_WAIT) {
            Some(line) => line,
            None => {
                let status = self.child.wait().unwrap();
                panic!(
                    "the peer `{}` ended ({status}) without the expected output",
                    self.what
                );
            }
        }
    }

    /// Waits for the process (a minute at most) and checks that it succeeded.
    pub fn success(mut self) {
        let until = std::time::Instant::now() + PEER_WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < until,
                "the peer `{}` did not end within {PEER_WAIT:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(
            status.success(),
            "the peer `{}` failed: {status}",
            self.what
        );
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (for peers that cannot report the port they bound).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The lines a child process writes, read by a thread of its own so that waiting for one is
/// bounded.
pub struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
    what: String,
}

impl Lines {
    /// Reads `out` line by line on a thread; `what` names the writer in failures.
    pub fn of(out: impl std::io::Read + Send + 'static, what: &str) -> Lines {
        use std::io::BufRead;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines {
            rx,
            what: what.to_owned(),
        }
    }

    /// The next line (without its end), `None` once the writer closed its output; fails
    /// when none comes within `limit`.
    pub fn next_within(&mut self, limit: Duration) -> Option<String> {
        match self.rx.recv_timeout(limit) {
            Ok(line) => Some(line),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("{}: no line within {limit:?}", self.what)
            }
        }
    }

    /// The next line, within 30 s; fails when the writer ended without one.
    pub fn line(&mut self) -> String {
        self.next_within(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{}: ended without the expected line", self.what))
    }
}
