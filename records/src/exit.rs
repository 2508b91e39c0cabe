//! The exit codes of `splitbrain check`, `run` and `campaign`: what a CI
//! job branches on. The README's exit-code table lists the same codes.

use splitbrain_checkers::verdict::Validity;

/// A documented process exit code. Codes 3 to 253 are unused, so that a
/// new meaning can be added without changing an old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// 0, valid: no anomaly found. `campaign`: every expectation was met.
    Valid = 0,
    /// 1, invalid: at least one anomaly. `campaign`: at least one
    /// expectation was missed (or a run did not complete, or the campaign
    /// was interrupted before it ran them all).
    Invalid = 1,
    /// 2, unknown: nothing conclusive (nothing was exercised, a final read
    /// failed, no grant after the heal, a checker could not decide); the
    /// reason is in `results.json`.
    Unknown = 2,
    /// 254, bad arguments or unreadable input (clap's own usage code 2
    /// would read as an unknown verdict).
    BadInput = 254,
    /// 255, internal error: a Docker failure, a bug.
    Internal = 255,
}

impl Exit {
    /// Every code, in numeric order.
    pub const ALL: [Exit; 5] = [
        Exit::Valid,
        Exit::Invalid,
        Exit::Unknown,
        Exit::BadInput,
        Exit::Internal,
    ];

    /// The process exit code.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl From<Validity> for Exit {
    /// A verdict's exit code.
    fn from(v: Validity) -> Exit {
        match v {
            Validity::Valid => Exit::Valid,
            Validity::Invalid => Exit::Invalid,
            Validity::Unknown => Exit::Unknown,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table is the user's copy of this type: every code has a
    /// row, and the table points here.
    #[test]
    fn the_readme_table_lists_every_code() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Exit codes")
            .nth(1)
            .expect("the README has an exit-code section");
        assert!(section.contains("splitbrain_records::Exit"));
        for exit in Exit::ALL {
            let row = format!("| {} |", exit.code());
            assert!(section.contains(&row), "no README row {row}");
        }
    }

    #[test]
    fn verdicts_map_to_their_codes() {
        assert_eq!(Exit::from(Validity::Valid).code(), 0);
        assert_eq!(Exit::from(Validity::Invalid).code(), 1);
        assert_eq!(Exit::from(Validity::Unknown).code(), 2);
    }
}
