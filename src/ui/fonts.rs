//! The panel's Japanese font: Noto Sans CJK JP cut down to what the panel shows
//! (ui/fonts/make-cjk-subset.sh). It ships as a file next to the binary instead of inside it
//! (1.6 MB of the board binary's 16 MB budget) and is registered with Slint's font collection
//! at start, when it is there. Without it the panel still works; Japanese text shows as boxes
//! and the log says which directories were searched.
//!
//! Where it is looked for, the first directory holding [`CJK_FONT_FILE`] wins:
//!
//! 1. `$MFP_KIOSK_FONT_DIR`;
//! 2. `<binary's dir>/../share/mfp-kiosk/fonts` (`device/install.sh` puts it in
//!    `/usr/share/mfp-kiosk/fonts` next to `/usr/bin/mfp-kiosk`);
//! 3. the binary's own directory (an unpacked install bundle);
//! 4. `ui/fonts` of the source tree the binary was built from (`cargo run`, tests, benches).
//!
//! The file is memory-mapped, not read: the renderer touches only the pages of the glyphs it
//! draws, as it did when the font was part of the binary's image, so an English panel pays
//! next to nothing for it in resident memory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use slint::fontique_011::fontique;

/// The font file's name in each searched directory.
pub const CJK_FONT_FILE: &str = "NotoSansJP-Subset.otf";
/// Its family name; `Theme.cjk-family` in ui/theme.slint asks for this one.
pub const CJK_FAMILY: &str = "Noto Sans CJK JP";
/// The environment variable naming a directory searched first.
pub const FONT_DIR_ENV: &str = "MFP_KIOSK_FONT_DIR";

/// The scripts the Japanese face also covers where the language is not Japanese (the idle
/// page's language list names Japanese as 日本語 in every language): Hiragana, Katakana, Han.
const FALLBACK_SCRIPTS: [[u8; 4]; 3] = [*b"Hira", *b"Kana", *b"Hani"];

#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error("cannot read the font file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a font file the renderer can use")]
    NotAFont { path: PathBuf },
    #[error("{path} holds the font family {found:?}; the panel asks for {CJK_FAMILY:?}")]
    WrongFamily { path: PathBuf, found: String },
}

/// The directories searched for [`CJK_FONT_FILE`], in order, for a process whose
/// `$MFP_KIOSK_FONT_DIR` is `env_dir` and whose binary is `exe`.
pub fn search_dirs(env_dir: Option<OsString>, exe: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = env_dir.filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(bin_dir) = exe.and_then(Path::parent) {
        if let Some(prefix) = bin_dir.parent() {
            dirs.push(prefix.join("share/mfp-kiosk/fonts"));
        }
        dirs.push(bin_dir.to_path_buf());
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/fonts"));
    dirs
}

/// This process's search directories (see the module docs).
pub fn default_search_dirs() -> Vec<PathBuf> {
    let exe = std::env::current_exe().ok();
    search_dirs(std::env::var_os(FONT_DIR_ENV), exe.as_deref())
}

/// The first `dirs` entry holding [`CJK_FONT_FILE`], as the file's path.
pub fn find_in(dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| d.join(CJK_FONT_FILE))
        .find(|p| p.is_file())
}

/// Registers the font file at `path` with `collection`, checks it is the [`CJK_FAMILY`] face
/// and makes it the fallback for Japanese scripts. Returns the family name.
pub fn register_into(
    collection: &mut fontique::Collection,
    path: &Path,
) -> Result<String, FontError> {
    let read_err = |source| FontError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    // SAFETY: the mapping is read-only and lives as long as the collection holds the blob.
    // It stays valid only while nobody truncates the file; installed, it is a root-owned file
    // under /usr/share on a file system the unit mounts read-only (ProtectSystem=strict).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(read_err)?;
    let fonts = collection.register_fonts(fontique::Blob::new(Arc::new(map)), None);
    let Some((family, _)) = fonts.first() else {
        return Err(FontError::NotAFont {
            path: path.to_path_buf(),
        });
    };
    let name = collection
        .family_name(*family)
        .unwrap_or_default()
        .to_string();
    if name != CJK_FAMILY {
        return Err(FontError::WrongFamily {
            path: path.to_path_buf(),
            found: name,
        });
    }
    for script in FALLBACK_SCRIPTS {
        collection.append_fallbacks(
            fontique::FallbackKey::new(fontique::Script::from_bytes(script), None),
            fonts.iter().map(|(id, _)| *id),
        );
    }
    Ok(name)
}

/// Finds the Japanese font and registers it with Slint's process-wide font collection.
/// `Ok(None)`: no directory holds it (the caller logs [`default_search_dirs`]).
///
/// Call it once the Slint platform exists (after `MainWindow::new()` or `set_platform`, before
/// the first frame): asking for the collection earlier would make Slint pick its default
/// backend, and a missing display would then panic instead of returning an error.
pub fn register_cjk_font() -> Result<Option<PathBuf>, FontError> {
    let Some(path) = find_in(&default_search_dirs()) else {
        return Ok(None);
    };
    register_into(&mut slint::fontique_011::shared_collection(), &path)?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private_collection() -> fontique::Collection {
        fontique::Collection::new(fontique::CollectionOptions {
            shared: false,
            system_fonts: false,
        })
    }

    fn source_font() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("ui/fonts")
            .join(CJK_FONT_FILE)
    }

    #[test]
    fn the_search_goes_env_then_share_then_beside_the_binary_then_the_source_tree() {
        let dirs = search_dirs(
            Some("/opt/fonts".into()),
            Some(Path::new("/usr/bin/mfp-kiosk")),
        );
        assert_eq!(
            dirs,
            [
                PathBuf::from("/opt/fonts"),
                PathBuf::from("/usr/share/mfp-kiosk/fonts"),
                PathBuf::from("/usr/bin"),
                Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/fonts"),
            ]
        );
        // An empty variable is no directory (it would mean the working directory).
        assert_eq!(search_dirs(Some("".into()), None).len(), 1);
    }

    #[test]
    fn the_first_directory_holding_the_file_wins() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(b.path().join(CJK_FONT_FILE), b"x").unwrap();
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(find_in(&dirs), Some(b.path().join(CJK_FONT_FILE)));
        assert_eq!(find_in(&dirs[..1]), None);
    }

    #[test]
    fn the_source_font_registers_as_the_family_the_theme_asks_for() {
        let mut collection = private_collection();
        assert_eq!(
            register_into(&mut collection, &source_font()).unwrap(),
            CJK_FAMILY
        );
        let key = fontique::FallbackKey::new(fontique::Script::from_bytes(*b"Hira"), None);
        let id = collection.family_id(CJK_FAMILY).unwrap();
        assert!(collection.fallback_families(key).any(|f| f == id));
        let theme = include_str!("../../ui/theme.slint");
        assert!(
            theme.contains(&format!("cjk-family: \"{CJK_FAMILY}\"")),
            "Theme.cjk-family names {CJK_FAMILY}"
        );
    }

    #[test]
    fn a_file_that_is_no_font_or_is_missing_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join(CJK_FONT_FILE);
        std::fs::write(&junk, b"not a font at all").unwrap();
        let mut collection = private_collection();
        let err = register_into(&mut collection, &junk).unwrap_err();
        assert!(matches!(err, FontError::NotAFont { .. }), "{err}");
        assert!(err.to_string().contains(&junk.display().to_string()));
        let err = register_into(&mut collection, &dir.path().join("gone.otf")).unwrap_err();
        assert!(matches!(err, FontError::Read { .. }), "{err}");
    }
}
