//! Installing verified files as `install_dir/<name>/`: a temp dir beside it is filled
//! and synced, then takes the name in one rename, so a power cut leaves the old
//! software or the new, never a mix.

use std::path::{Path, PathBuf};

use super::state::sync_dir;

/// Installs `files` (file name, verified source) as `install_dir/<name>/`, replacing
/// what is there.
pub fn install(install_dir: &Path, name: &str, files: &[(String, PathBuf)]) -> std::io::Result<()> {
    std::fs::create_dir_all(install_dir)?;
    let tmp = install_dir.join(format!(".{name}.new-{}", std::process::id()));
    // A leftover of a crashed install by a process with the same pid.
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir(&tmp)?;
    for (filename, src) in files {
        let dest = tmp.join(filename);
        std::fs::copy(src, &dest)?;
        std::fs::File::open(&dest)?.sync_all()?;
    }
    sync_dir(&tmp)?;
    let dest = install_dir.join(name);
    if dest.exists() {
        exchange(&tmp, &dest)?;
        // `tmp` now holds the old software.
        std::fs::remove_dir_all(&tmp)?;
    } else {
        std::fs::rename(&tmp, &dest)?;
    }
    sync_dir(install_dir)
}

/// Swaps two directories atomically (Linux's RENAME_EXCHANGE).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let cb = CString::new(b.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: two NUL-terminated paths that outlive the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Elsewhere: the old one aside, then the new one in (a short window without it).
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let aside = a.with_extension("old");
    std::fs::rename(b, &aside)?;
    std::fs::rename(a, b)?;
    std::fs::rename(aside, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_then_overwrite_leaves_only_the_new_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("a"), b"one").unwrap();
        std::fs::write(src.join("b"), b"two").unwrap();
        let inst = dir.path().join("inst");
        install(&inst, "fw", &[("fw.bin".into(), src.join("a"))]).unwrap();
        std::fs::write(inst.join("fw/stale"), b"x").unwrap();
        install(&inst, "fw", &[("fw.bin".into(), src.join("b"))]).unwrap();
        assert_eq!(std::fs::read(inst.join("fw/fw.bin")).unwrap(), b"two");
        assert!(!inst.join("fw/stale").exists());
        let names: Vec<_> = std::fs::read_dir(&inst)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["fw"], "no temp dir left");
    }
}
