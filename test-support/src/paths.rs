//! Where things are: the workspace root, the Python virtualenv with oslo.messaging 18.3.1 that
//! `scripts/test-env.sh` makes at `.venv`, the Python peers in `tests/python`, and the
//! throwaway TLS CA in `target/test-env/tls`.

use std::path::{Path, PathBuf};

use crate::broker;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("test-support sits in the workspace").to_owned()
}

/// The virtualenv's Python, if `scripts/test-env.sh` made it; prints why `test` is skipped when
/// not.
pub fn python(test: &str) -> Option<PathBuf> {
    let python = root().join(".venv/bin/python");
    if python.exists() {
        Some(python)
    } else {
        eprintln!("skipping {test}: no {} with oslo.messaging (run scripts/test-env.sh)", python.display());
        None
    }
}

/// A script of `tests/python/`.
pub fn script(name: &str) -> PathBuf {
    root().join("tests/python").join(name)
}

/// A file of the test TLS material (`ca.pem`, the broker's CA; `wrong-ca.pem`, a CA that
/// signed nothing the broker serves).
///
/// # Panics
/// When the file is missing, naming the script that makes it.
pub fn tls_file(name: &str) -> PathBuf {
    let path = root().join("target/test-env/tls").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test-env.sh (the README's test command does)",
        path.display()
    );
    path
}

/// A `rabbit://` URL to the shared broker's TLS listener that trusts the CA file `ca`.
pub fn tls_url(ca: &str) -> String {
    format!("rabbit://guest:guest@{}/?ssl=true&ssl_ca_file={}", broker::TLS_ADDRESS, tls_file(ca).display())
}

/// What the interop tests need from the machine.
#[derive(Clone, Debug)]
pub struct InteropEnv {
    /// The workspace root.
    pub root: PathBuf,
    /// The virtualenv's Python, with oslo.messaging 18.3.1.
    pub python: PathBuf,
}

impl InteropEnv {
    /// A script of `tests/python/`.
    pub fn script(&self, name: &str) -> PathBuf {
        script(name)
    }
}

/// The environment, or `None` after printing why `test` is skipped: only a missing broker or
/// a missing virtualenv skips (`scripts/test-env.sh` provides both).
pub fn interop_env(test: &str) -> Option<InteropEnv> {
    if !broker::available(test) {
        return None;
    }
    Some(InteropEnv { root: root(), python: python(test)? })
}
