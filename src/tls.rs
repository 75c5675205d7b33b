//! Builds rustls configurations from PEM files, for TLS listeners and for a TLS engine upstream,
//! and reloads a listener's certificates without touching established connections.
//!
//! Flags follow dockerd (`--tlscert`, `--tlskey`, `--tlscacert`, `--tlsverify`): with `verify`,
//! clients must present a certificate signed by the CA. TLS 1.2 and 1.3 only (rustls offers
//! nothing older). This module does not accept connections or read certificates' contents.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Files of a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA that signs client certificates; required with `verify`.
    pub ca: Option<PathBuf>,
    /// Require and verify client certificates.
    pub verify: bool,
}

/// Files for talking TLS to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// The CA that signs the engine's certificate.
    pub ca: PathBuf,
    /// sockgate's client certificate and key, for an engine started with `--tlsverify`.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// A certificate, key or CA that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read `{path}`: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("`{0}` holds no certificate")]
    NoCertificate(PathBuf),
    #[error("invalid TLS setup: {0}")]
    Config(String),
    #[error("`--tlsverify` needs `--tlscacert`, the CA that signs client certificates")]
    VerifyWithoutCa,
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::Read { path: path.to_path_buf(), reason: e.to_string() })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Read { path: path.to_path_buf(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Read { path: path.to_path_buf(), reason: e.to_string() })
}

fn roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certificates(path)? {
        store.add(cert).map_err(|e| TlsError::Config(format!("CA `{}`: {e}", path.display())))?;
    }
    Ok(Arc::new(store))
}

/// A server configuration from the listener's files.
pub fn server_config(files: &ServerTls) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder();
    let builder = match (&files.ca, files.verify) {
        (Some(ca), true) => {
            let verifier =
                WebPkiClientVerifier::builder(roots(ca)?).build().map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        (None, true) => return Err(TlsError::VerifyWithoutCa),
        (_, false) => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certificates(&files.cert)?, private_key(&files.key)?)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration for the engine.
pub fn client_config(files: &ClientTls) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder().with_root_certificates(roots(&files.ca)?);
    let config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| TlsError::Config(e.to_string()))?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsError::Config("an upstream client certificate needs both its cert and its key".into())),
    };
    Ok(Arc::new(config))
}

/// The name the engine's certificate must carry: the host of `host:port`, as an IP or DNS name.
pub fn server_name(hostport: &str) -> Result<ServerName<'static>, TlsError> {
    let host = crate::address::host_of(hostport);
    ServerName::try_from(host.to_string()).map_err(|e| TlsError::Config(format!("upstream host `{host}`: {e}")))
}

/// A listener's TLS configuration that `SIGHUP` can replace: new handshakes use the new
/// certificates, established connections keep theirs.
#[derive(Debug)]
pub struct Reloadable {
    files: ServerTls,
    current: ArcSwap<ServerConfig>,
}

impl Reloadable {
    pub fn new(files: ServerTls) -> Result<Reloadable, TlsError> {
        let config = server_config(&files)?;
        Ok(Reloadable { files, current: ArcSwap::new(config) })
    }

    /// The configuration for the next handshake.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// Reads the files again; on error the old configuration stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.files)?;
        self.current.store(config);
        Ok(())
    }
}
