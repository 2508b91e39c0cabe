//! Documented exit codes, shared by `check`, `run` and `campaign`.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | valid: no anomaly found |
//! | 1    | invalid: at least one anomaly |
//! | 2    | unknown: nothing conclusive (nothing was exercised, a checker could not decide) |
//! | 254  | bad arguments or unreadable input |
//! | 255  | internal error (Docker failure, bug) |

use std::process::ExitCode;

use splitbrain_checkers::verdict::Validity;

pub const VALID: u8 = 0;
pub const INVALID: u8 = 1;
pub const UNKNOWN: u8 = 2;
pub const BAD_INPUT: u8 = 254;
pub const INTERNAL: u8 = 255;

/// A command's failure, classified by whose fault it is.
#[derive(Debug)]
pub enum CommandError {
    /// The user's input was wrong: exit 254.
    BadInput(anyhow::Error),
    /// Something broke on our side or in the environment: exit 255.
    Internal(anyhow::Error),
}

impl CommandError {
    pub fn code(&self) -> u8 {
        match self {
            CommandError::BadInput(_) => BAD_INPUT,
            CommandError::Internal(_) => INTERNAL,
        }
    }
}

impl From<anyhow::Error> for CommandError {
    fn from(e: anyhow::Error) -> Self {
        CommandError::Internal(e)
    }
}

pub fn for_validity(v: Validity) -> ExitCode {
    ExitCode::from(match v {
        Validity::Valid => VALID,
        Validity::Invalid => INVALID,
        Validity::Unknown => UNKNOWN,
    })
}
