//! The simulator's state file: the device tokens it was issued, per server URL and resource,
//! so that the next run reuses them instead of issuing more (a resource has at most a few
//! active device tokens). Written atomically with mode 0600: the tokens are credentials.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A device token as issued to the simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDevice {
    /// Device id (for revoking it).
    pub device: i64,
    /// The bearer token, `gwd_…`.
    pub token: String,
}

/// What the simulator remembers of one server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerState {
    /// Device tokens by resource id.
    #[serde(default)]
    pub devices: BTreeMap<i64, StoredDevice>,
}

/// The whole file: one entry per server URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// By server base URL.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerState>,
}

impl StateFile {
    /// Reads the file; a missing file is an empty state, an unreadable one an error (never
    /// overwritten silently: it may hold the only copy of tokens in use).
    ///
    /// # Errors
    ///
    /// The file exists but cannot be read or is not this format.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the file atomically (temporary file, then rename), readable by its owner only.
    ///
    /// # Errors
    ///
    /// The folder cannot be created or written.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write as _;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut tmp = PathBuf::from(path);
        tmp.as_mut_os_string().push(".tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    }

    /// The state of one server, created empty if new.
    pub fn server(&mut self, url: &str) -> &mut ServerState {
        self.servers.entry(url.to_owned()).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_servers_apart() {
        let dir = std::env::temp_dir().join(format!("gridwall-sim-state-{}", std::process::id()));
        let path = dir.join("simulator.json");
        assert_eq!(
            StateFile::load(&path).expect("missing"),
            StateFile::default()
        );
        let mut s = StateFile::default();
        s.server("http://a").devices.insert(
            7,
            StoredDevice {
                device: 3,
                token: "gwd_x".into(),
            },
        );
        s.server("http://b");
        s.save(&path).expect("save");
        let back = StateFile::load(&path).expect("load");
        assert_eq!(back, s);
        assert_eq!(back.servers["http://a"].devices[&7].token, "gwd_x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not json").expect("write");
        assert!(StateFile::load(&path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
