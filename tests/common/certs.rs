#![allow(dead_code)] // each test binary uses a part
//! Certificates made at test time (rcgen): a CA, server and client certificates it signs,
//! an expired one, and another CA nobody trusts; written as PEM files for the tests and
//! for the Python and browser peers.

use std::path::{Path, PathBuf};

use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A CA and what it signed, as PEM files in a directory of their own.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// The server's certificate (`localhost`, 127.0.0.1) and key.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        (self.path("server.pem"), self.path("server-key.pem"))
    }

    /// A client certificate for `launcher-1.internal`, and its key.
    pub fn client(&self) -> (PathBuf, PathBuf) {
        (self.path("client.pem"), self.path("client-key.pem"))
    }

    /// A server certificate that expired in 2020.
    pub fn expired(&self) -> (PathBuf, PathBuf) {
        (self.path("expired.pem"), self.path("expired-key.pem"))
    }

    /// A server certificate signed by a CA nobody trusts.
    pub fn untrusted(&self) -> (PathBuf, PathBuf) {
        (self.path("untrusted.pem"), self.path("untrusted-key.pem"))
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn write_leaf(
    dir: &Path,
    name: &str,
    names: &[&str],
    issuer: &CertifiedIssuer<'static, KeyPair>,
    expired: bool,
) {
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    if expired {
        params.not_before = date_time_ymd(2019, 1, 1);
        params.not_after = date_time_ymd(2020, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
}

/// Makes (once per test binary and directory name) a CA and its certificates.
pub fn pki(name: &str) -> Pki {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pki-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let root = ca("connhandler test CA");
    std::fs::write(dir.join("ca.pem"), root.pem()).unwrap();
    write_leaf(&dir, "server", &["localhost", "127.0.0.1"], &root, false);
    write_leaf(&dir, "client", &["launcher-1.internal"], &root, false);
    write_leaf(&dir, "expired", &["localhost", "127.0.0.1"], &root, true);
    let other = ca("nobody trusts this CA");
    write_leaf(
        &dir,
        "untrusted",
        &["localhost", "127.0.0.1"],
        &other,
        false,
    );
    Pki { dir }
}
