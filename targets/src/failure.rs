//! How a failed request to a service ended, whatever the service: the one
//! distinction the history needs (`fail` or `info`). Each service's own
//! `outcome` module decides which of its errors prove a refusal.

use std::time::Duration;

use crate::client::Completion;

/// How a failed request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The server rejected the request: it did not take effect.
    Refused(String),
    /// The request may or may not have taken effect.
    Indefinite(String),
}

impl Failure {
    /// `Refused` when the service's error proves a refusal, else `Indefinite`.
    pub(crate) fn new(refused: bool, message: String) -> Self {
        if refused {
            Failure::Refused(message)
        } else {
            Failure::Indefinite(message)
        }
    }

    /// `Ok` when the request took effect, else the refusal `why` says.
    pub(crate) fn refused_unless(took: bool, why: impl FnOnce() -> String) -> Result<(), Failure> {
        if took {
            Ok(())
        } else {
            Err(Failure::Refused(why()))
        }
    }

    pub(crate) fn timed_out(what: &str, after: Duration) -> Self {
        Failure::Indefinite(format!(
            "failed to {what}: no answer within {} ms",
            after.as_millis()
        ))
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::Refused(m) | Failure::Indefinite(m) => m,
        }
    }

    pub(crate) fn is_refused(&self) -> bool {
        matches!(self, Failure::Refused(_))
    }

    /// The completion of an operation that ended with this failure.
    pub(crate) fn completion(self) -> Completion {
        match self {
            Failure::Refused(m) => Completion::fail(m),
            Failure::Indefinite(m) => Completion::info(m),
        }
    }
}
