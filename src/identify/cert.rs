//! Reads who a TLS client certificate names: subject common name, subject alternative names by
//! type, and the SHA-256 fingerprint, from the certificate a client presented on a finished
//! handshake. The handshake has already verified it; this only reads it.
//!
//! A subject may hold several common names; Go's `pkix.Name.FillFromRDNSequence` (what dockerd and
//! Go-based CAs read) keeps the last, other readers the first. A certificate whose CN two readers
//! could read differently names no CN here, so no CN profile matches it.

use std::fmt;

use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A subject alternative name, with its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    Dns(String),
    Uri(String),
    Email(String),
    Ip(std::net::IpAddr),
}

/// The identity a verified client certificate carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// The subject's common name, when it has exactly one.
    pub common_name: Option<String>,
    /// How many common names the subject has.
    pub common_names: usize,
    pub sans: Vec<San>,
    /// Lower-case hex SHA-256 of the DER certificate.
    pub fingerprint: String,
}

impl CertIdentity {
    /// The identity of the first (the client's own) certificate a TLS client presented, if it
    /// presented one that parses.
    pub fn of_client(connection: &rustls::ServerConnection) -> Option<CertIdentity> {
        connection.peer_certificates().and_then(|certs| certs.first()).and_then(|der| CertIdentity::from_der(der))
    }

    /// Reads a DER certificate; `None` if it does not parse.
    pub fn from_der(der: &[u8]) -> Option<CertIdentity> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let names: Vec<_> = cert.subject().iter_common_name().collect();
        let common_name = match names.as_slice() {
            [only] => only.as_str().ok().map(str::to_string),
            _ => None,
        };
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(s) => sans.push(San::Dns((*s).to_string())),
                    GeneralName::URI(s) => sans.push(San::Uri((*s).to_string())),
                    GeneralName::RFC822Name(s) => sans.push(San::Email((*s).to_string())),
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                            sans.push(San::Ip(std::net::Ipv4Addr::from(v4).into()));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                            sans.push(San::Ip(std::net::Ipv6Addr::from(v6).into()));
                        }
                    }
                    _ => {}
                }
            }
        }
        let fingerprint = Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect();
        Some(CertIdentity { common_name, common_names: names.len(), sans, fingerprint })
    }
}

impl fmt::Display for CertIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.common_name {
            Some(cn) => write!(f, "CN={cn}"),
            None if self.common_names > 1 => {
                write!(f, "cert {} with {} CNs", &self.fingerprint[..self.fingerprint.len().min(16)], self.common_names)
            }
            None => write!(f, "cert {}", &self.fingerprint[..self.fingerprint.len().min(16)]),
        }
    }
}
