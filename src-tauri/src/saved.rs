//! What the app remembers between launches, in `app-state.json` of its config folder: the
//! model folders added by hand, and the pages' work in progress (loaded datasets with their
//! column mapping, the task mix, the Train page's settings) as the front end keeps it
//! (`ui/src/lib/persist.ts`). Written atomically on every change, read once at launch.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Env var: the config folder (default `$XDG_CONFIG_HOME/mixtune`, `~/.config/mixtune`).
pub const CONFIG_DIR_ENV: &str = "MIXTUNE_CONFIG_DIR";
/// The file in the config folder.
pub const STATE_FILE: &str = "app-state.json";

/// The remembered state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct SavedState {
    /// Model folders added with "Add folder", listed again after a restart.
    #[serde(default)]
    pub model_folders: Vec<PathBuf>,
    /// The pages' state, owned by the front end (`SavedUi` in `ui/src/lib/persist.ts`), which
    /// checks it when it reads it back; `null` before anything was saved.
    #[serde(default)]
    #[ts(type = "unknown")]
    pub ui: serde_json::Value,
}

/// What `load_saved_state` returns: the state, and what the user should know about it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct RestoredState {
    pub state: SavedState,
    /// Set when the file could not be read and was put aside.
    pub note: Option<String>,
}

/// `$MIXTUNE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/mixtune`, else `~/.config/mixtune`.
pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("mixtune");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".config").join("mixtune")
}

/// Reads the state at `path`: a missing file is the empty state; one that cannot be read is
/// renamed `app-state.json.bad` (so the next save does not destroy it) and named in the note.
pub fn load(path: &Path) -> RestoredState {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return RestoredState {
                state: SavedState::default(),
                note: None,
            }
        }
        Err(error) => {
            return RestoredState {
                state: SavedState::default(),
                note: Some(format!(
                    "{}: could not be read ({error}); starting empty",
                    path.display()
                )),
            }
        }
    };
    match serde_json::from_str(&text) {
        Ok(state) => RestoredState { state, note: None },
        Err(error) => {
            let aside = path.with_extension("json.bad");
            let kept = std::fs::rename(path, &aside).is_ok();
            RestoredState {
                state: SavedState::default(),
                note: Some(format!(
                    "{}: not readable ({error}); starting empty{}",
                    path.display(),
                    if kept {
                        format!(", the file was kept as {}", aside.display())
                    } else {
                        String::new()
                    }
                )),
            }
        }
    }
}

/// Writes `state` to `path` (its folder created), atomically.
pub fn save(path: &Path, state: &SavedState) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(state)?;
    mixtune::fsutil::write_atomic(path, text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_a_damaged_file_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(STATE_FILE);
        assert_eq!(load(&path).state, SavedState::default());
        let state = SavedState {
            model_folders: vec![PathBuf::from("/models/mine")],
            ui: serde_json::json!({"version": 1, "datasets": [{"path": "/d.csv"}]}),
        };
        save(&path, &state).unwrap();
        let restored = load(&path);
        assert_eq!(restored.state, state);
        assert!(restored.note.is_none());

        std::fs::write(&path, "{ not json").unwrap();
        let restored = load(&path);
        assert_eq!(restored.state, SavedState::default());
        let note = restored.note.unwrap();
        assert!(note.contains("app-state.json.bad"), "{note}");
        assert_eq!(
            std::fs::read_to_string(path.with_extension("json.bad")).unwrap(),
            "{ not json"
        );
    }
}
