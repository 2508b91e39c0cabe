//! Waiting for a condition with a deadline, for targets that prove
//! readiness by probing (never by sleeping a fixed time).

use std::future::Future;
use std::time::{Duration, Instant};

/// The probe never succeeded in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to see {what} within {} ms ({attempts} probes)", .timeout.as_millis())]
pub struct NotReady {
    pub what: String,
    pub timeout: Duration,
    pub attempts: u32,
}

/// Run `probe` every `interval` until it returns true or `timeout` has
/// passed. The probe itself must be bounded (each call should finish well
/// within `timeout`); a probe still running at the deadline is awaited.
pub async fn wait_until<F, Fut>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut probe: F,
) -> Result<(), NotReady>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    let mut attempts = 0;
    loop {
        attempts += 1;
        if probe().await {
            return Ok(());
        }
        if Instant::now() + interval > deadline {
            return Err(NotReady {
                what: what.to_string(),
                timeout,
                attempts,
            });
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn succeeds_once_the_probe_does_and_gives_up_at_the_deadline() {
        let mut n = 0;
        wait_until(
            "third call",
            Duration::from_secs(5),
            Duration::from_millis(1),
            || {
                n += 1;
                let ready = n >= 3;
                async move { ready }
            },
        )
        .await
        .unwrap();
        assert_eq!(n, 3);
        let err = wait_until(
            "never",
            Duration::from_millis(30),
            Duration::from_millis(10),
            || async { false },
        )
        .await
        .unwrap_err();
        assert!(err.attempts >= 2);
        assert!(err
            .to_string()
            .starts_with("failed to see never within 30 ms"));
    }
}
