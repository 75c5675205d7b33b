//! Throwaway certificate authorities and the certificates they sign, made with the host's
//! `openssl` CLI: EC P-256 keys, valid for a day or two, with the key usages rustls and Go's
//! `crypto/tls` check (serverAuth for listeners, clientAuth for callers).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::process::run;

const OPENSSL_TIMEOUT: Duration = Duration::from_secs(30);

/// A minimal OpenSSL configuration, so the host's `openssl.cnf` cannot add or change extensions.
const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
";

/// A certificate and its private key, as PEM files.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A self-signed CA in its own directory; it signs server and client certificates.
#[derive(Debug, Clone)]
pub struct Ca {
    dir: PathBuf,
    /// The CA certificate, what clients and servers are told to trust.
    pub cert: PathBuf,
    key: PathBuf,
    cnf: PathBuf,
}

fn openssl(args: &[&str]) -> Result<()> {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    run(cmd, None, OPENSSL_TIMEOUT)?.ok()?;
    Ok(())
}

fn text(path: &Path) -> Result<&str> {
    path.to_str().with_context(|| format!("`{}` is not UTF-8", path.display()))
}

/// A serial number no other certificate of this run uses.
fn serial() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("0x{:x}{:04x}", nanos, COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl Ca {
    /// Creates `dir` (if needed) and a CA named `name` in it, as `<name>.pem`.
    pub fn new(dir: &Path, name: &str) -> Result<Ca> {
        std::fs::create_dir_all(dir)?;
        let cnf = dir.join(format!("{name}-openssl.cnf"));
        std::fs::write(&cnf, OPENSSL_CNF)?;
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}-key.pem"));
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-config",
            text(&cnf)?,
            "-extensions",
            "ca",
            "-keyout",
            text(&key)?,
            "-out",
            text(&cert)?,
        ])
        .with_context(|| format!("cannot create CA `{name}`"))?;
        Ok(Ca { dir: dir.to_path_buf(), cert, key, cnf })
    }

    /// A server certificate for `127.0.0.1` and `localhost`, saved as `<file>.pem`, `<file>-key.pem`.
    pub fn server(&self, file: &str) -> Result<Issued> {
        self.issue(file, "sockgate", "serverAuth", Some("IP:127.0.0.1,DNS:localhost"))
    }

    /// A client certificate whose subject is `CN=<cn>`, saved as `<file>.pem`, `<file>-key.pem`.
    pub fn client(&self, file: &str, cn: &str) -> Result<Issued> {
        self.issue(file, cn, "clientAuth", None)
    }

    /// A client certificate with the subject `/CN=<subject>` (`admin/CN=ci` gives two common
    /// names) and, if given, subject alternative names in openssl's syntax (`URI:...`, `DNS:...`).
    pub fn client_with(&self, file: &str, subject: &str, san: Option<&str>) -> Result<Issued> {
        self.issue(file, subject, "clientAuth", san)
    }

    fn issue(&self, file: &str, cn: &str, usage: &str, san: Option<&str>) -> Result<Issued> {
        let cert = self.dir.join(format!("{file}.pem"));
        let key = self.dir.join(format!("{file}-key.pem"));
        let csr = self.dir.join(format!("{file}.csr"));
        let ext = self.dir.join(format!("{file}.ext"));
        let mut extensions = format!(
            "[leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
             extendedKeyUsage = {usage}\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
        );
        if let Some(san) = san {
            extensions.push_str(&format!("subjectAltName = {san}\n"));
        }
        std::fs::write(&ext, extensions)?;
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-config",
            text(&self.cnf)?,
            "-keyout",
            text(&key)?,
            "-out",
            text(&csr)?,
        ])
        .with_context(|| format!("cannot make a key and request for `{cn}`"))?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            text(&csr)?,
            "-CA",
            text(&self.cert)?,
            "-CAkey",
            text(&self.key)?,
            "-set_serial",
            &serial(),
            "-days",
            "1",
            "-extfile",
            text(&ext)?,
            "-extensions",
            "leaf",
            "-out",
            text(&cert)?,
        ])
        .with_context(|| format!("cannot sign the certificate of `{cn}`"))?;
        Ok(Issued { cert, key })
    }
}
