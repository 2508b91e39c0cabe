//! How an answer of an adapter-protocol service maps to an outcome.
//!
//! `fail` claims the request had no effect, so it is kept for answers that
//! prove it: a protocol refusal (4xx, or 503 "not serving", each carrying the
//! protocol header, which only a protocol server sets), or a connection that
//! was never established, so nothing was sent. Everything else (timeouts,
//! lost connections, 5xx other than 503, a status from something that does
//! not speak the protocol) is `info`.

use std::time::Duration;

use crate::failure::Failure;

/// The response header every protocol answer carries, with the version.
pub const PROTOCOL_HEADER: &str = "splitbrain-protocol";

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200, with its body.
    Ok(Vec<u8>),
    /// The service refused: nothing happened.
    Refused(String),
    /// May or may not have taken effect.
    Indefinite(String),
}

impl Answer {
    /// The body of a 200, else how the request failed.
    pub(crate) fn into_result(self) -> Result<Vec<u8>, Failure> {
        match self {
            Answer::Ok(body) => Ok(body),
            Answer::Refused(m) => Err(Failure::Refused(m)),
            Answer::Indefinite(m) => Err(Failure::Indefinite(m)),
        }
    }
}

/// Classifies a complete HTTP answer to a request made "to `what`".
pub fn classify(what: &str, status: u16, protocol_header: bool, body: &[u8]) -> Answer {
    if status == 200 && protocol_header {
        return Answer::Ok(body.to_vec());
    }
    let reason = error_text(body);
    let message = format!("failed to {what}: {status} {reason}");
    if !protocol_header {
        return Answer::Indefinite(format!("{message} (the answer lacks {PROTOCOL_HEADER})"));
    }
    match status {
        400..=499 | 503 => Answer::Refused(message),
        _ => Answer::Indefinite(message),
    }
}

pub fn timed_out(what: &str, after: Duration) -> Answer {
    Answer::Indefinite(format!(
        "failed to {what}: no answer within {} ms",
        after.as_millis()
    ))
}

/// The `error` field of a protocol error body, else the body as text.
fn error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => e.error,
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_need_the_protocol_header() {
        let body = br#"{"error":"k is held by 3 with token 7"}"#;
        assert_eq!(
            classify("acquire", 409, true, body),
            Answer::Refused("failed to acquire: 409 k is held by 3 with token 7".into())
        );
        assert!(matches!(
            classify("acquire", 503, true, body),
            Answer::Refused(_)
        ));
        assert!(matches!(
            classify("acquire", 503, false, b"bad gateway"),
            Answer::Indefinite(_)
        ));
        assert!(matches!(
            classify("acquire", 409, false, body),
            Answer::Indefinite(_)
        ));
    }

    #[test]
    fn server_errors_other_than_503_are_indefinite() {
        for status in [500, 502, 504] {
            assert!(matches!(
                classify("write", status, true, b"{}"),
                Answer::Indefinite(_)
            ));
        }
        assert_eq!(
            classify("read", 200, true, b"[]"),
            Answer::Ok(b"[]".to_vec())
        );
        assert!(matches!(
            classify("read", 200, false, b"[]"),
            Answer::Indefinite(_)
        ));
    }
}
