//! TLS on link B (rustls with the ring provider): the server proves itself with a
//! certificate, the client checks it against its CA file; the shared key still proves
//! the client on every Open and Resume.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use thiserror::Error;
use tokio_rustls::{TlsAcceptor, TlsConnector};

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Pem {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{0}: no certificate in it")]
    NoCertificate(PathBuf),
    #[error("`{0}` is not a DNS name or an IP address")]
    BadName(String),
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// What link B runs over.
#[derive(Clone, Default)]
pub enum LinkTls {
    #[default]
    Plain,
    /// The server's side.
    Accept(TlsAcceptor),
    /// The client's side, and the name the server's certificate must carry.
    Connect(TlsConnector, ServerName<'static>),
}

// Explicit: with more than one provider compiled in, rustls will not pick one. ring
// (deprecated for lacking post-quantum key exchange) is the one sqlx already builds;
// aws-lc-rs would add a C library build for this one link.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem<T>(path: &Path, r: Result<T, rustls::pki_types::pem::Error>) -> Result<T, TlsError> {
    r.map_err(|source| TlsError::Pem {
        path: path.to_owned(),
        source,
    })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = pem(path, CertificateDer::pem_file_iter(path))?.collect::<Result<Vec<_>, _>>();
    let certs = pem(path, certs)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

impl LinkTls {
    /// The server's side from a certificate chain and its private key (PEM files).
    pub fn server(cert: &Path, key: &Path) -> Result<LinkTls, TlsError> {
        let chain = certificates(cert)?;
        let key = pem(key, PrivateKeyDer::from_pem_file(key))?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(LinkTls::Accept(TlsAcceptor::from(Arc::new(config))))
    }

    /// The client's side: trusts the certificates in `ca` for the server `name`.
    pub fn client(ca: &Path, name: &str) -> Result<LinkTls, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in certificates(ca)? {
            roots.add(cert)?;
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(name.to_owned())
            .map_err(|_| TlsError::BadName(name.to_owned()))?;
        Ok(LinkTls::Connect(TlsConnector::from(Arc::new(config)), name))
    }
}
