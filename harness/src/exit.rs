//! How a command fails, classified by whose fault it is. The codes
//! themselves are [`splitbrain_records::Exit`], documented there and in the
//! README.

use splitbrain_records::Exit;

/// A command's failure, classified by whose fault it is.
#[derive(Debug)]
pub enum CommandError {
    /// The user's input was wrong: exit 254.
    BadInput(anyhow::Error),
    /// Something broke on our side or in the environment: exit 255.
    Internal(anyhow::Error),
}

impl CommandError {
    pub fn code(&self) -> Exit {
        match self {
            CommandError::BadInput(_) => Exit::BadInput,
            CommandError::Internal(_) => Exit::Internal,
        }
    }
}

impl From<anyhow::Error> for CommandError {
    fn from(e: anyhow::Error) -> Self {
        CommandError::Internal(e)
    }
}
