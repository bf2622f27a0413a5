//! Errors at the IPC edge: `anyhow` inside the shell, one readable line for the UI.

/// What a command returns to the front end.
pub type CmdResult<T> = Result<T, String>;

/// The error with its whole context chain on one line (`outer: inner: root cause`).
pub fn to_message(error: anyhow::Error) -> String {
    format!("{error:#}")
}

/// Runs blocking `work` on Tauri's blocking pool and maps its error to a message.
pub async fn blocking<T, F>(work: F) -> CmdResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
{
    match tauri::async_runtime::spawn_blocking(work).await {
        Ok(result) => result.map_err(to_message),
        Err(error) => Err(format!("the background task failed: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    #[test]
    fn the_message_keeps_the_context_chain() {
        let error = Err::<(), _>(std::io::Error::other("disk full"))
            .context("writing mix.toml")
            .unwrap_err();
        assert_eq!(super::to_message(error), "writing mix.toml: disk full");
    }
}
