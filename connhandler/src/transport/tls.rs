//! TLS under any handler (feature `tls`): the settings ([`TlsServer`], [`TlsClient`]), the
//! handshakes (tokio-rustls, under the handler's `handshake_timeout`), what a connection
//! learns of its peer ([`TlsInfo`]) and the byte stream of the data phase.
//!
//! The data phase is connhandler's own, over a rustls session shared by the reader and the
//! writer (a lock taken only to decrypt what was read or to encrypt and write): the reader
//! and writer tasks stay what they are over TCP, with the same budgets and deadlines.
//!
//! | state | reader | writer |
//! | --- | --- | --- |
//! | handshake | (the door's task, before the connection exists) | |
//! | open | plaintext the session holds; else TLS records read now, decrypted; else waits for the socket | encrypts at most `RECORD` bytes a call, after writing out what the session holds |
//! | peer's close_notify or FIN | end of stream (a FIN without close_notify also: the framing tells a cut message) | |
//! | closing | | what is queued, then close_notify, then FIN |

use std::{
    fmt, io,
    net::SocketAddr,
    path::Path,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, RwLock},
    task::{Context, Poll},
};

use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName},
    server::WebPkiClientVerifier,
    ClientConfig, Connection, RootCertStore, ServerConfig,
};
use tokio::io::AsyncRead;

use crate::transport::Socket;

use super::{ReadHalf, Transport, TryWrite, WriteHalf};

/// Plaintext encrypted per write call: one TLS record.
const RECORD: usize = 16 * 1024;

/// The crypto provider of every TLS setting connhandler builds: ring.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// Reads a PEM file of certificates (a chain: the leaf first).
fn certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!("{}: no certificate in it", path.display())));
    }
    Ok(certs)
}

fn key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

fn roots(path: &Path) -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs(path)? {
        roots
            .add(cert)
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    }
    Ok(roots)
}

/// The TLS settings of an incoming handler: its certificate chain and key, and whether it
/// asks clients for certificates (mutual TLS). Cloning shares it: [`reload`](Self::reload)
/// on any clone changes what new handshakes use, without a restart.
///
/// # Examples
///
/// ```no_run
/// use connhandler::tls::TlsServer;
///
/// let tls = TlsServer::from_pem_files("cert.pem", "key.pem")?
///     // Launchers must show a certificate signed by our own CA.
///     .require_client_certs("launchers-ca.pem")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsServer {
    config: Arc<RwLock<Arc<ServerConfig>>>,
    /// How the config was built, for `require_client_certs` and `reload_pem_files`.
    parts: Option<Arc<ServerParts>>,
    /// Where the connections' secrets go (`key_log_file`), kept across reloads.
    key_log: Option<Arc<dyn rustls::KeyLog>>,
}

struct ServerParts {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: Option<Arc<RootCertStore>>,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer")
            .field(
                "client_certs",
                &self
                    .parts
                    .as_ref()
                    .is_some_and(|p| p.client_roots.is_some()),
            )
            .field("key_log", &self.key_log.is_some())
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// A certificate chain (PEM, the leaf first) and its private key (PEM: PKCS#8, PKCS#1 or
    /// SEC1).
    ///
    /// # Errors
    ///
    /// A file that cannot be read, holds no certificate or key, or a key that does not fit.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let tls = connhandler::tls::TlsServer::from_pem_files("cert.pem", "key.pem")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_pem_files(chain: impl AsRef<Path>, key_file: impl AsRef<Path>) -> io::Result<Self> {
        Self::from_parts(ServerParts {
            chain: certs(chain.as_ref())?,
            key: key(key_file.as_ref())?,
            client_roots: None,
        })
    }

    /// A certificate chain and key already in memory (DER).
    ///
    /// # Errors
    ///
    /// A key that does not fit the certificate, or that rustls cannot use.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(chain: Vec<rustls::pki_types::CertificateDer<'static>>, key: rustls::pki_types::PrivateKeyDer<'static>) -> std::io::Result<()> {
    /// let tls = connhandler::tls::TlsServer::from_der(chain, key)?;
    /// # Ok(()) }
    /// ```
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> io::Result<Self> {
        Self::from_parts(ServerParts {
            chain,
            key,
            client_roots: None,
        })
    }

    /// A rustls `ServerConfig` of the program's own (its own verifier, ALPN, session
    /// cache...). Use the ring provider for it, as connhandler does.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(config: std::sync::Arc<rustls::ServerConfig>) {
    /// let tls = connhandler::tls::TlsServer::from_config(config);
    /// # }
    /// ```
    pub fn from_config(config: Arc<ServerConfig>) -> Self {
        TlsServer {
            config: Arc::new(RwLock::new(config)),
            parts: None,
            key_log: None,
        }
    }

    fn from_parts(parts: ServerParts) -> io::Result<Self> {
        let config = Arc::new(server_config(&parts)?);
        Ok(TlsServer {
            config: Arc::new(RwLock::new(config)),
            parts: Some(Arc::new(parts)),
            key_log: None,
        })
    }

    /// Writes the secrets of every TLS connection from now on to `path` (appended, in the
    /// NSS key log format that Wireshark reads as `tls.keylog_file`), so that a capture of
    /// the traffic can be read: a debugging aid, off by default. Whoever has the file can
    /// read every connection it covers: never turn it on in production.
    ///
    /// # Errors
    ///
    /// The file cannot be opened for appending.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let tls = connhandler::tls::TlsServer::from_pem_files("cert.pem", "key.pem")?
    ///     .key_log_file("/tmp/tls-keys.log")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn key_log_file(self, path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(self.key_log(Arc::new(KeyLogTo::open(path.as_ref())?)))
    }

    /// The `SSLKEYLOGFILE` convention (as browsers and curl have it): the secrets go to the
    /// file that variable names when a handshake runs, and nowhere when it is unset. A
    /// debugging aid, as [`key_log_file`](Self::key_log_file).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let tls = connhandler::tls::TlsServer::from_pem_files("cert.pem", "key.pem")?
    ///     .key_log_from_env();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn key_log_from_env(self) -> Self {
        self.key_log(Arc::new(rustls::KeyLogFile::new()))
    }

    fn key_log(mut self, log: Arc<dyn rustls::KeyLog>) -> Self {
        self.key_log = Some(log);
        let current = self.current();
        self.reload(current);
        self
    }

    /// Mutual TLS: clients must show a certificate signed by a CA in `ca_file` (PEM), or the
    /// handshake fails. The verified certificate is then in [`TlsInfo`].
    ///
    /// # Errors
    ///
    /// The CA file cannot be read, or the settings were built with
    /// [`from_config`](Self::from_config) (set the verifier there).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let tls = connhandler::tls::TlsServer::from_pem_files("cert.pem", "key.pem")?
    ///     .require_client_certs("ca.pem")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn require_client_certs(self, ca_file: impl AsRef<Path>) -> io::Result<Self> {
        let roots = roots(ca_file.as_ref())?;
        let Some(parts) = self.parts else {
            return Err(invalid(
                "require_client_certs: set the verifier in the ServerConfig given to from_config",
            ));
        };
        let parts = Arc::try_unwrap(parts).unwrap_or_else(|p| ServerParts {
            chain: p.chain.clone(),
            key: p.key.clone_key(),
            client_roots: None,
        });
        let key_log = self.key_log;
        let server = Self::from_parts(ServerParts {
            client_roots: Some(Arc::new(roots)),
            ..parts
        })?;
        Ok(match key_log {
            Some(log) => server.key_log(log),
            None => server,
        })
    }

    /// Replaces the certificate chain and key for every handshake from now on (connections
    /// already open keep theirs): a renewed certificate without a restart. Client
    /// certificate settings stay.
    ///
    /// # Errors
    ///
    /// As [`from_pem_files`](Self::from_pem_files); the old certificate stays in use then.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(tls: &connhandler::tls::TlsServer) -> std::io::Result<()> {
    /// tls.reload_pem_files("cert.pem", "key.pem")?;
    /// # Ok(()) }
    /// ```
    pub fn reload_pem_files(
        &self,
        chain: impl AsRef<Path>,
        key_file: impl AsRef<Path>,
    ) -> io::Result<()> {
        let parts = ServerParts {
            chain: certs(chain.as_ref())?,
            key: key(key_file.as_ref())?,
            client_roots: self.parts.as_ref().and_then(|p| p.client_roots.clone()),
        };
        self.reload(Arc::new(server_config(&parts)?));
        Ok(())
    }

    /// Replaces the whole `ServerConfig` for every handshake from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(tls: &connhandler::tls::TlsServer, config: std::sync::Arc<rustls::ServerConfig>) {
    /// tls.reload(config);
    /// # }
    /// ```
    pub fn reload(&self, config: Arc<ServerConfig>) {
        let config = match &self.key_log {
            Some(log) => {
                let mut with_log = (*config).clone();
                with_log.key_log = log.clone();
                Arc::new(with_log)
            }
            None => config,
        };
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn server_config(parts: &ServerParts) -> io::Result<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid)?;
    let builder = match &parts.client_roots {
        None => builder.with_no_client_auth(),
        Some(roots) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                .build()
                .map_err(invalid)?,
        ),
    };
    builder
        .with_single_cert(parts.chain.clone(), parts.key.clone_key())
        .map_err(invalid)
}

/// The TLS settings of an outgoing handler: whom to trust, the name the server's
/// certificate must carry, and a client certificate for mutual TLS.
///
/// # Examples
///
/// ```no_run
/// use connhandler::tls::TlsClient;
///
/// // Trust our own CA; the login server's certificate is for login.internal.
/// let tls = TlsClient::with_ca_file("ca.pem")?
///     .server_name("login.internal")
///     .client_cert("launcher.pem", "launcher-key.pem")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsClient {
    roots: Option<Arc<RootCertStore>>,
    config: Option<Arc<ClientConfig>>,
    name: Option<String>,
    client: Option<Arc<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>>,
    key_log: Option<Arc<dyn rustls::KeyLog>>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.name)
            .field("client_cert", &self.client.is_some())
            .field("key_log", &self.key_log.is_some())
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// Trusts the platform's certificate store (read when the handler starts connecting).
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = connhandler::tls::TlsClient::platform_roots();
    /// ```
    pub fn platform_roots() -> Self {
        TlsClient {
            roots: None,
            config: None,
            name: None,
            client: None,
            key_log: None,
        }
    }

    /// Trusts the CAs in `ca_file` (PEM) and nothing else.
    ///
    /// # Errors
    ///
    /// The file cannot be read or holds no certificate.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let tls = connhandler::tls::TlsClient::with_ca_file("ca.pem")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_ca_file(ca_file: impl AsRef<Path>) -> io::Result<Self> {
        Ok(TlsClient {
            roots: Some(Arc::new(roots(ca_file.as_ref())?)),
            ..Self::platform_roots()
        })
    }

    /// Trusts these CA certificates (DER) and nothing else.
    ///
    /// # Errors
    ///
    /// A certificate rustls cannot use as a trust anchor.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(ca: rustls::pki_types::CertificateDer<'static>) -> std::io::Result<()> {
    /// let tls = connhandler::tls::TlsClient::with_ca_der([ca])?;
    /// # Ok(()) }
    /// ```
    pub fn with_ca_der(cas: impl IntoIterator<Item = CertificateDer<'static>>) -> io::Result<Self> {
        let mut roots = RootCertStore::empty();
        for ca in cas {
            roots.add(ca).map_err(invalid)?;
        }
        Ok(TlsClient {
            roots: Some(Arc::new(roots)),
            ..Self::platform_roots()
        })
    }

    /// A rustls `ClientConfig` of the program's own. [`server_name`](Self::server_name)
    /// still applies.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(config: std::sync::Arc<rustls::ClientConfig>) {
    /// let tls = connhandler::tls::TlsClient::from_config(config).server_name("login.internal");
    /// # }
    /// ```
    pub fn from_config(config: Arc<ClientConfig>) -> Self {
        TlsClient {
            config: Some(config),
            ..Self::platform_roots()
        }
    }

    /// Writes the secrets of every connection from now on to `path`, as
    /// [`TlsServer::key_log_file`] does (a debugging aid, off by default).
    ///
    /// # Errors
    ///
    /// The file cannot be opened for appending.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let tls = connhandler::tls::TlsClient::with_ca_file("ca.pem")?.key_log_file("/tmp/tls-keys.log")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn key_log_file(mut self, path: impl AsRef<Path>) -> io::Result<Self> {
        self.key_log = Some(Arc::new(KeyLogTo::open(path.as_ref())?));
        Ok(self)
    }

    /// The `SSLKEYLOGFILE` convention, as [`TlsServer::key_log_from_env`].
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = connhandler::tls::TlsClient::platform_roots().key_log_from_env();
    /// ```
    pub fn key_log_from_env(mut self) -> Self {
        self.key_log = Some(Arc::new(rustls::KeyLogFile::new()));
        self
    }

    /// The name the server's certificate must carry (and the SNI sent); default: the host
    /// of the address connected to.
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = connhandler::tls::TlsClient::platform_roots().server_name("login.internal");
    /// ```
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A client certificate chain and key (PEM files) for mutual TLS.
    ///
    /// # Errors
    ///
    /// A file that cannot be read or holds no certificate or key.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let tls = connhandler::tls::TlsClient::with_ca_file("ca.pem")?
    ///     .client_cert("me.pem", "me-key.pem")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn client_cert(
        self,
        chain: impl AsRef<Path>,
        key_file: impl AsRef<Path>,
    ) -> io::Result<Self> {
        Ok(self.client_cert_der(certs(chain.as_ref())?, key(key_file.as_ref())?))
    }

    /// A client certificate chain and key already in memory (DER), for mutual TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(chain: Vec<rustls::pki_types::CertificateDer<'static>>, key: rustls::pki_types::PrivateKeyDer<'static>) {
    /// let tls = connhandler::tls::TlsClient::platform_roots().client_cert_der(chain, key);
    /// # }
    /// ```
    pub fn client_cert_der(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.client = Some(Arc::new((chain, key)));
        self
    }

    /// The `ClientConfig` and the server name for a connection to `host`.
    pub(crate) fn prepare(
        &self,
        host: &str,
    ) -> io::Result<(Arc<ClientConfig>, ServerName<'static>)> {
        let name = self.name.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.to_owned())
            .map_err(|_| invalid(format!("{name:?} is not a valid TLS server name")))?;
        if let Some(config) = &self.config {
            return Ok((self.with_key_log(config.clone()), name));
        }
        let roots = match &self.roots {
            Some(roots) => roots.clone(),
            None => Arc::new(platform_roots()?),
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .with_root_certificates(roots);
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some(pair) => builder
                .with_client_auth_cert(pair.0.clone(), pair.1.clone_key())
                .map_err(invalid)?,
        };
        Ok((self.with_key_log(Arc::new(config)), name))
    }

    fn with_key_log(&self, config: Arc<ClientConfig>) -> Arc<ClientConfig> {
        match &self.key_log {
            Some(log) => {
                let mut with_log = (*config).clone();
                with_log.key_log = log.clone();
                Arc::new(with_log)
            }
            None => config,
        }
    }
}

/// Secrets appended to a file, one line each, in the NSS key log format
/// (`LABEL CLIENT_RANDOM SECRET`, hex).
struct KeyLogTo {
    file: std::sync::Mutex<std::fs::File>,
}

impl KeyLogTo {
    fn open(path: &Path) -> io::Result<KeyLogTo> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(KeyLogTo {
            file: std::sync::Mutex::new(file),
        })
    }
}

impl fmt::Debug for KeyLogTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLogTo").finish_non_exhaustive()
    }
}

impl rustls::KeyLog for KeyLogTo {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        use std::io::Write as _;
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
        // One write per line, so that lines of two connections never mix; a failure to
        // write a debugging aid does not fail the handshake.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let _ = file.write_all(line.as_bytes());
    }
}

fn platform_roots() -> io::Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no trust roots in the platform's store{}",
                found
                    .errors
                    .first()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(roots)
}

/// What a TLS connection knows of its peer after the handshake: read it from
/// [`PeerHandle::tls`](crate::PeerHandle::tls).
///
/// # Examples
///
/// ```
/// # fn f<P: connhandler::Peer>(peer: &connhandler::PeerHandle<P>) {
/// if let Some(tls) = peer.tls() {
///     // With mutual TLS, the names of the verified client certificate.
///     println!("{} over {}", tls.peer_names().join(", "), tls.protocol());
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TlsInfo {
    certs: Vec<CertificateDer<'static>>,
    names: Vec<String>,
    protocol: &'static str,
    sni: Option<String>,
    alpn: Option<Vec<u8>>,
}

impl TlsInfo {
    fn of(conn: &Connection) -> TlsInfo {
        let certs: Vec<_> = conn
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let names = certs.first().map(cert_names).unwrap_or_default();
        let protocol = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "TLS",
        };
        let sni = match conn {
            Connection::Server(s) => s.server_name().map(str::to_owned),
            Connection::Client(_) => None,
        };
        TlsInfo {
            certs,
            names,
            protocol,
            sni,
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        }
    }

    /// The peer's certificate chain (DER, the leaf first), verified during the handshake;
    /// empty when the peer showed none (a client without mutual TLS).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(tls: &connhandler::tls::TlsInfo) {
    /// let shown = !tls.peer_certificates().is_empty();
    /// # }
    /// ```
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    /// The DNS names (subject alternative names) of the peer's verified leaf certificate:
    /// who the peer is, with mutual TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(tls: &connhandler::tls::TlsInfo) {
    /// let is_launcher = tls.peer_names().iter().any(|n| n == "launcher-1.internal");
    /// # }
    /// ```
    pub fn peer_names(&self) -> &[String] {
        &self.names
    }

    /// The TLS version agreed: `"TLSv1.3"` or `"TLSv1.2"`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(tls: &connhandler::tls::TlsInfo) {
    /// assert!(tls.protocol().starts_with("TLSv1."));
    /// # }
    /// ```
    pub fn protocol(&self) -> &str {
        self.protocol
    }

    /// The server name the client asked for (SNI), on the listening side.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(tls: &connhandler::tls::TlsInfo) {
    /// println!("for {:?}", tls.sni());
    /// # }
    /// ```
    pub fn sni(&self) -> Option<&str> {
        self.sni.as_deref()
    }

    /// The application protocol agreed by ALPN, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(tls: &connhandler::tls::TlsInfo) {
    /// let h2 = tls.alpn() == Some(b"h2".as_slice());
    /// # }
    /// ```
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }
}

/// The DNS names of a certificate's subject alternative name extension.
fn cert_names(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok(cert) = webpki::EndEntityCert::try_from(cert) else {
        return Vec::new();
    };
    cert.valid_dns_names().map(str::to_owned).collect()
}

/// The server side of a handshake over `tcp`: the stream tokio-rustls made, for the
/// WebSocket upgrade over it before [`TlsStream::server`] takes it apart.
pub(crate) async fn accept(
    tcp: Socket,
    tls: &TlsServer,
) -> io::Result<tokio_rustls::server::TlsStream<Socket>> {
    tokio_rustls::TlsAcceptor::from(tls.current())
        .accept(tcp)
        .await
}

/// The client side of a handshake over `tcp`, to `host` (the default server name). A
/// failure caused by the server's certificate says what to do about it.
pub(crate) async fn connect(
    tcp: Socket,
    tls: &TlsClient,
    host: &str,
) -> io::Result<tokio_rustls::client::TlsStream<Socket>> {
    let (config, name) = tls.prepare(host)?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| match hint(&e) {
            Some(hint) => io::Error::new(e.kind(), format!("{e}; {hint}")),
            None => e,
        })
}

/// What to do about a handshake that failed for a certificate's kind, name, issuer or
/// dates (on a client: the server's; on a server: the client refused ours); `None` for
/// other failures.
pub(crate) fn hint(e: &io::Error) -> Option<&'static str> {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let e = e.get_ref()?.downcast_ref::<E>()?;
    Some(match e {
        E::InvalidCertificate(C::Other(other))
            if format!("{other:?}").contains("CaUsedAsEndEntity") =>
        {
            "the server's certificate is a CA certificate (what `openssl req -x509` makes by \
             default), which TLS clients refuse as a server's own: make an end-entity one \
             (basicConstraints CA:FALSE; the README's development certificate recipe does)"
        }
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "the server's certificate does not name the host connected to: make it with that \
             name in subjectAltName, or give the name it has with TlsClient::server_name"
        }
        E::InvalidCertificate(C::UnknownIssuer) => {
            "the server's certificate is not signed by a CA this client trusts: trust its CA \
             (or, for a self-signed development certificate, the certificate itself) with \
             TlsClient::with_ca_file"
        }
        E::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => "the server's certificate is outside its dates: renew it (or check the clock)",
        E::AlertReceived(
            A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::UnsupportedCertificate,
        ) => {
            "the client refused this server's certificate: it must be an end-entity \
             certificate (not a CA's) naming the host the client connects to, signed by a CA \
             the client trusts (for a self-signed one, the client trusts the certificate \
             itself)"
        }
        _ => return None,
    })
}

/// A TLS connection after its handshake: the socket and the session its halves share.
pub(crate) struct TlsStream {
    tcp: Arc<Socket>,
    session: Arc<Mutex<Connection>>,
}

impl TlsStream {
    /// The data phase of a server connection (plaintext the handshake's stream had read
    /// and not handed out stays in the session, read first).
    pub(crate) fn server(stream: tokio_rustls::server::TlsStream<Socket>) -> (TlsStream, TlsInfo) {
        let (tcp, session) = stream.into_inner();
        TlsStream::new(tcp, Connection::Server(session))
    }

    /// The data phase of a client connection.
    pub(crate) fn client(stream: tokio_rustls::client::TlsStream<Socket>) -> (TlsStream, TlsInfo) {
        let (tcp, session) = stream.into_inner();
        TlsStream::new(tcp, Connection::Client(session))
    }

    fn new(tcp: Socket, session: Connection) -> (TlsStream, TlsInfo) {
        let info = TlsInfo::of(&session);
        let stream = TlsStream {
            tcp: Arc::new(tcp),
            session: Arc::new(Mutex::new(session)),
        };
        (stream, info)
    }
}

/// The socket as the blocking-style reader and writer rustls takes: `WouldBlock` when the
/// socket has nothing, or no room.
struct NowIo<'a>(&'a Socket);

impl io::Read for NowIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl io::Write for NowIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn lock(session: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    session.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes what the session holds until it holds nothing (`Ok(true)`) or the socket takes no
/// more now (`Ok(false)`).
fn write_out(session: &mut Connection, tcp: &Socket) -> io::Result<bool> {
    while session.wants_write() {
        match session.write_tls(&mut NowIo(tcp)) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

impl Transport for TlsStream {
    type Read = TlsRead;
    type Write = TlsWrite;
    /// Off: a sender's write could leave records in the session that nobody writes out.
    const DIRECT_WRITES: bool = false;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.tcp.set_nodelay(nodelay)
    }

    fn set_keepalive(&self, idle: std::time::Duration) -> io::Result<()> {
        self.tcp.set_keepalive(idle)
    }

    fn into_split(self) -> (TlsRead, TlsWrite) {
        let read = TlsRead {
            tcp: self.tcp.clone(),
            session: self.session.clone(),
            eof: false,
        };
        let write = TlsWrite {
            tcp: self.tcp,
            session: self.session,
        };
        (read, write)
    }
}

/// The reader's half of a TLS connection.
pub(crate) struct TlsRead {
    tcp: Arc<Socket>,
    session: Arc<Mutex<Connection>>,
    /// The socket's end of stream was read.
    eof: bool,
}

impl AsyncRead for TlsRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let mut session = lock(&this.session);
            let room = buf.remaining().min(RECORD);
            match io::Read::read(&mut session.reader(), buf.initialize_unfilled_to(room)) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // A FIN without close_notify: an end of stream like any other (messages are
                // framed: a cut one is reported by the framing).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(e)),
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match session.read_tls(&mut NowIo(&this.tcp)) {
                Ok(0) => this.eof = true,
                Ok(_) => {
                    if let Err(e) = session.process_new_packets() {
                        // Tell the peer why (an alert), if the socket takes it now.
                        let _ = write_out(&mut session, &this.tcp);
                        return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
                    }
                    // Answers the session owes (a key update): best effort, the writer
                    // writes out the rest with its next write.
                    let _ = write_out(&mut session, &this.tcp);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(session);
                    match this.tcp.poll_read_ready(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl ReadHalf for TlsRead {
    async fn readable(&self) -> io::Result<()> {
        {
            let mut session = lock(&self.session);
            if let Ok(state) = session.process_new_packets() {
                if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() {
                    return Ok(());
                }
            }
        }
        if self.eof {
            return Ok(());
        }
        self.tcp.readable().await
    }
}

/// The writer's half of a TLS connection.
pub(crate) struct TlsWrite {
    tcp: Arc<Socket>,
    session: Arc<Mutex<Connection>>,
}

impl TryWrite for TlsWrite {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut session = lock(&self.session);
        if !write_out(&mut session, &self.tcp)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = io::Write::write(&mut session.writer(), &buf[..buf.len().min(RECORD)])?;
        write_out(&mut session, &self.tcp)?;
        Ok(n)
    }
}

impl WriteHalf for TlsWrite {
    async fn writable(&self) -> io::Result<()> {
        self.tcp.writable().await
    }

    fn has_pending(&self) -> bool {
        lock(&self.session).wants_write()
    }

    async fn flush(&self) -> io::Result<()> {
        loop {
            if write_out(&mut lock(&self.session), &self.tcp)? {
                return Ok(());
            }
            self.tcp.writable().await?;
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        lock(&self.session).send_close_notify();
        self.flush().await?;
        self.tcp.shutdown_write()
    }
}
