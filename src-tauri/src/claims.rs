//! Who may use the GPU for long work in this window: runs (several may train at once) or one
//! kernel preparation, never both (they would compete for the GPU, and the preparation's shape
//! record would race the runs'). Each claim checks the other side and takes its own under the
//! preparation's lock, always taken first, so a Start and a Prepare clicked together cannot
//! both pass their checks.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::CmdError;
use crate::state::{lock, RunHandle};

/// The preparation running now (its task id) and the runs training now, by run id: the two
/// fields of `AppState` a claim decides over.
pub struct Claims<'a> {
    pub preparation: &'a Mutex<Option<String>>,
    pub runs: &'a Mutex<HashMap<String, RunHandle>>,
}

impl<'a> Claims<'a> {
    /// Registers run `run_id` as training in this window, unless a preparation runs or the
    /// run already trains here (`busy`).
    pub fn run(&self, run_id: &str, handle: RunHandle) -> Result<(), CmdError> {
        let preparation = lock(self.preparation);
        if let Some(task) = preparation.as_ref() {
            return Err(preparing(task));
        }
        let mut runs = lock(self.runs);
        if runs.contains_key(run_id) {
            return Err(CmdError::busy(format!(
                "run `{run_id}` is running in this window"
            )));
        }
        runs.insert(run_id.to_string(), handle);
        Ok(())
    }

    /// Marks preparation `task_id` as running until the returned mark drops (on every
    /// return, and when the preparation panics), unless a run trains in this window or
    /// another preparation runs (`busy`).
    pub fn preparation(&self, task_id: &str) -> Result<PreparationMark<'a>, CmdError> {
        let mut preparation = lock(self.preparation);
        if let Some(other) = preparation.as_ref() {
            return Err(CmdError::busy(format!(
                "GPU kernels are already being prepared (task `{other}`)"
            )));
        }
        if !lock(self.runs).is_empty() {
            return Err(CmdError::busy(
                "a run is training in this window: it prepares its own shapes as it meets \
                 them, and a preparation beside it would only slow it down",
            ));
        }
        *preparation = Some(task_id.to_string());
        Ok(PreparationMark(self.preparation))
    }

    /// `busy` while a preparation runs: a quick check before a run writes its folder (the
    /// claim itself is [`Claims::run`]).
    pub fn no_preparation(&self) -> Result<(), CmdError> {
        match lock(self.preparation).as_ref() {
            Some(task) => Err(preparing(task)),
            None => Ok(()),
        }
    }
}

fn preparing(task: &str) -> CmdError {
    CmdError::busy(format!(
        "GPU kernels are being prepared (task `{task}`): start once it is done, or cancel it \
         (the shapes it finished stay prepared)"
    ))
}

/// The running preparation's mark, cleared when dropped.
pub struct PreparationMark<'a>(&'a Mutex<Option<String>>);

impl Drop for PreparationMark<'_> {
    fn drop(&mut self) {
        *lock(self.0) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use mixtune::train::RunControl;

    fn handle() -> RunHandle {
        RunHandle {
            control: RunControl::new(),
            output_dir: "/runs/r".into(),
        }
    }

    /// A run and a preparation exclude each other, a run id trains once, and a preparation's
    /// end (its mark dropped) lets runs start again.
    #[test]
    fn runs_and_a_preparation_exclude_each_other() {
        let (preparation, runs) = (Mutex::new(None), Mutex::new(HashMap::new()));
        let claims = Claims {
            preparation: &preparation,
            runs: &runs,
        };
        let mark = claims.preparation("t1").unwrap();
        let refused = claims.run("r1", handle()).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Busy);
        assert!(refused.message.contains("`t1`"), "{}", refused.message);
        assert!(claims.no_preparation().is_err());
        assert!(
            claims.preparation("t2").is_err(),
            "one preparation at a time"
        );
        assert!(lock(&runs).is_empty(), "a refused run is not registered");
        drop(mark);

        claims.no_preparation().unwrap();
        claims.run("r1", handle()).unwrap();
        claims.run("r2", handle()).unwrap();
        let twice = claims.run("r1", handle()).unwrap_err();
        assert!(
            twice.message.contains("`r1` is running"),
            "{}",
            twice.message
        );
        let refused = claims.preparation("t3").err().expect("refused beside runs");
        assert!(refused.message.contains("training"), "{}", refused.message);
        assert_eq!(
            *lock(&preparation),
            None,
            "a refused preparation leaves no mark"
        );
        lock(&runs).clear();
        drop(claims.preparation("t4").unwrap());
    }
}
