//! Errors at the IPC edge: `anyhow` inside the shell, a [`CmdError`] `{ kind, message }` for
//! the UI. The message is the whole context chain on one line; the kind comes from the first
//! typed error found along that chain, so the UI can say what the user can do about it.

use std::fmt;

use mixtune::error::{ErrorKind as EngineKind, MixtuneError};
use serde::Serialize;
use ts_rs::TS;

/// What a command returns to the front end.
pub type CmdResult<T> = Result<T, CmdError>;

/// What kind of failure a command hit: the engine's kinds ([`mixtune::error::ErrorKind`])
/// plus the shell's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A file, setting or text the user gave is wrong: fix it and retry.
    Input,
    /// A model, file, folder, run or task does not exist.
    NotFound,
    /// The model hub could not be reached or refused.
    Network,
    /// The device is missing, unusable or busy.
    Device,
    /// The work does not fit in device memory.
    OutOfMemory,
    /// Reading or writing a file failed (permissions, disk full).
    Io,
    /// A bug in Mixtune.
    Internal,
    /// The same work is already running (e.g. a task id in use).
    Busy,
    /// The user cancelled the work.
    Cancelled,
}

impl From<EngineKind> for ErrorKind {
    fn from(kind: EngineKind) -> Self {
        match kind {
            EngineKind::Input => Self::Input,
            EngineKind::NotFound => Self::NotFound,
            EngineKind::Network => Self::Network,
            EngineKind::Device => Self::Device,
            EngineKind::Busy => Self::Busy,
            EngineKind::OutOfMemory => Self::OutOfMemory,
            EngineKind::Io => Self::Io,
            EngineKind::Internal => Self::Internal,
            EngineKind::Cancelled => Self::Cancelled,
        }
    }
}

/// A failed command as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CmdError {
    pub kind: ErrorKind,
    /// One readable line: the error with its context chain (`outer: inner: root cause`).
    pub message: String,
}

impl CmdError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Busy, message)
    }

    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

/// Shown as the message, so a `CmdError` raised inside the shell can travel through `anyhow`
/// (and keep its kind) like any other error.
impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CmdError {}

impl From<anyhow::Error> for CmdError {
    fn from(error: anyhow::Error) -> Self {
        Self::new(kind_of(&error), for_users(&format!("{error:#}")))
    }
}

/// `message` without the OS's error numbers that Rust appends (`No such file or directory
/// (os error 2)`): the words say it, the number means nothing to a user.
pub fn for_users(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(" (os error ") {
        let tail = &rest[start + " (os error ".len()..];
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && tail[digits..].starts_with(')') {
            out.push_str(&rest[..start]);
            rest = &tail[digits + 1..];
        } else {
            out.push_str(&rest[..start + 1]);
            rest = &rest[start + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// The kind of a failure: the one the shell gave it (a [`CmdError`] raised or attached as
/// context, outermost first), else that of the first typed error along the chain: an engine
/// [`MixtuneError`], a hub client error, an I/O error; else `internal`.
pub fn kind_of(error: &anyhow::Error) -> ErrorKind {
    if let Some(shell) = error.downcast_ref::<CmdError>() {
        return shell.kind;
    }
    error
        .chain()
        .find_map(|cause| {
            if let Some(engine) = cause.downcast_ref::<MixtuneError>() {
                Some(engine.kind().into())
            } else if cause.is::<hf_hub::api::sync::ApiError>() {
                Some(ErrorKind::Network)
            } else {
                cause
                    .downcast_ref::<std::io::Error>()
                    .map(|io| match io.kind() {
                        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                        _ => ErrorKind::Io,
                    })
            }
        })
        .unwrap_or(ErrorKind::Internal)
}

/// Runs blocking `work` on Tauri's blocking pool and maps its error to a [`CmdError`].
pub async fn blocking<T, F>(work: F) -> CmdResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
{
    match tauri::async_runtime::spawn_blocking(work).await {
        Ok(result) => result.map_err(CmdError::from),
        Err(error) => Err(CmdError::internal(format!(
            "the background task failed: {error}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn os_error_numbers_are_not_shown() {
        assert_eq!(
            super::for_users("/d/a.csv: No such file or directory (os error 2); see (os error x)"),
            "/d/a.csv: No such file or directory; see (os error x)"
        );
    }

    use std::path::PathBuf;

    use anyhow::Context;
    use mixtune::data::DataError;
    use mixtune::mixture::MixtureError;

    use super::*;

    fn kind(error: anyhow::Error) -> ErrorKind {
        CmdError::from(error).kind
    }

    fn not_found() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory")
    }

    #[test]
    fn the_message_keeps_the_context_chain() {
        let error = Err::<(), _>(std::io::Error::other("disk full"))
            .context("writing mix.toml")
            .unwrap_err();
        assert_eq!(
            CmdError::from(error),
            CmdError::new(ErrorKind::Io, "writing mix.toml: disk full")
        );
    }

    #[test]
    fn engine_errors_keep_their_kind_under_context() {
        let input = anyhow::Error::new(MixtuneError::EmptyPrompt).context("generating the summary");
        assert_eq!(kind(input), ErrorKind::Input);
        let missing = anyhow::Error::new(MixtuneError::ModelNotFound("x/y".into()))
            .context("finding model `x/y`")
            .context("loading");
        assert_eq!(kind(missing), ErrorKind::NotFound);
        let hub = MixtuneError::Hub {
            model: "google/flan-t5-small".into(),
            message: "connection refused".into(),
        };
        assert_eq!(kind(hub.into()), ErrorKind::Network);
        let oom = MixtuneError::OutOfMemory {
            during: "step 3".into(),
            message: "allocation failed".into(),
            advice: "the batch size".into(),
        };
        assert_eq!(kind(oom.into()), ErrorKind::OutOfMemory);
        assert_eq!(
            kind(MixtuneError::Device("no adapter".into()).into()),
            ErrorKind::Device
        );
        assert_eq!(
            kind(MixtuneError::Backend("shape".into()).into()),
            ErrorKind::Internal
        );
        let io = MixtuneError::io("/runs/a", std::io::Error::other("permission denied"));
        assert_eq!(kind(io.into()), ErrorKind::Io);
    }

    #[test]
    fn data_and_mixture_errors_map_through_the_engine_error() {
        let missing = DataError::io(PathBuf::from("/d/a.jsonl"), not_found());
        assert_eq!(
            kind(MixtuneError::from(missing).into()),
            ErrorKind::NotFound
        );
        let bad = MixtureError::InvalidConfig {
            path: "mix.toml".into(),
            message: "no tasks".into(),
        };
        let error = anyhow::Error::new(MixtuneError::from(bad)).context("previewing");
        assert_eq!(kind(error), ErrorKind::Input);
    }

    #[test]
    fn shell_errors_keep_their_kind_and_message() {
        let error = anyhow::Error::new(CmdError::cancelled("cancelled after 8 of 20 dialogues"));
        assert_eq!(
            CmdError::from(error),
            CmdError::cancelled("cancelled after 8 of 20 dialogues")
        );
        let nested = anyhow::Error::new(CmdError::input("a task needs at least one phrasing"))
            .context("task `topic`: writing its edited phrasings");
        assert_eq!(
            CmdError::from(nested),
            CmdError::input(
                "task `topic`: writing its edited phrasings: a task needs at least one phrasing"
            )
        );
    }

    #[test]
    fn a_kind_the_shell_gives_wins_over_the_causes() {
        let bad_json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let error = anyhow::Error::new(bad_json)
            .context(CmdError::input("the mix is not a valid mixture config"))
            .context("previewing the mix");
        let error = CmdError::from(error);
        assert_eq!(error.kind, ErrorKind::Input);
        assert!(
            error
                .message
                .starts_with("previewing the mix: the mix is not a valid mixture config: EOF"),
            "{}",
            error.message
        );
        let cancelled = anyhow::Error::new(MixtuneError::Input("evaluation cancelled".into()))
            .context(CmdError::cancelled("cancelled"));
        assert_eq!(kind(cancelled), ErrorKind::Cancelled);
        // The engine's own kind, without the shell's context.
        let engine = anyhow::Error::new(MixtuneError::Cancelled("evaluation cancelled".into()));
        assert_eq!(kind(engine), ErrorKind::Cancelled);
    }

    #[test]
    fn io_errors_and_plain_messages() {
        let error = anyhow::Error::new(not_found()).context("reading /runs/x/metrics.jsonl");
        assert_eq!(kind(error), ErrorKind::NotFound);
        assert_eq!(kind(anyhow::anyhow!("something odd")), ErrorKind::Internal);
    }

    #[test]
    fn kinds_serialize_snake_case_beside_the_message() {
        let json = serde_json::to_value(CmdError::new(ErrorKind::OutOfMemory, "m")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "kind": "out_of_memory", "message": "m" })
        );
        let busy = serde_json::to_value(ErrorKind::NotFound).unwrap();
        assert_eq!(busy, "not_found");
    }

    #[test]
    fn every_engine_kind_has_a_shell_twin_of_the_same_name() {
        for engine in [
            EngineKind::Input,
            EngineKind::NotFound,
            EngineKind::Network,
            EngineKind::Device,
            EngineKind::OutOfMemory,
            EngineKind::Io,
            EngineKind::Internal,
        ] {
            assert_eq!(
                serde_json::to_value(engine).unwrap(),
                serde_json::to_value(ErrorKind::from(engine)).unwrap()
            );
        }
    }
}
