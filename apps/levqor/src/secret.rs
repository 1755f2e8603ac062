//! `LEVQOR_SECRET`: from configuration, or generated once into the data directory so
//! that signatures stay verifiable across restarts.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

const FILE: &str = "secret";

pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> Result<Vec<u8>, String> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing.trim().len() >= 32 => return Ok(existing.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(format!("{} is shorter than 32 characters; remove it or set LEVQOR_SECRET", path.display()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    levqor_core::private_fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    match levqor_core::private_fs::create_new(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(None, data_dir),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn the_generated_secret_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        super::load_or_create(None, &data).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data.join("secret")), 0o600);
        assert_eq!(mode(&data), 0o700);
    }

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::load_or_create(None, dir.path()).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(super::load_or_create(None, dir.path()).unwrap(), first);
        assert_eq!(
            super::load_or_create(Some("x".repeat(40).as_str()), dir.path()).unwrap(),
            "x".repeat(40).into_bytes()
        );
    }
}
