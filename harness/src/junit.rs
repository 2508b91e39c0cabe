//! JUnit XML for CI systems: one test case per run, the anomalies (or the
//! missed expectation) as the failure message. Built on quick-junit, the
//! serializer nextest itself uses.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

/// One run's entry in a JUnit report.
pub struct Case {
    pub name: String,
    /// `None` passed; `Some(message)` failed with that message.
    pub failure: Option<String>,
    /// The longer text: the run's summary and where its files are.
    pub details: String,
    pub time: Duration,
}

pub fn write(path: &Path, suite_name: &str, cases: &[Case]) -> anyhow::Result<()> {
    let mut suite = TestSuite::new(suite_name);
    for case in cases {
        let status = match &case.failure {
            None => TestCaseStatus::success(),
            Some(message) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(message.as_str());
                status.set_description(case.details.as_str());
                status
            }
        };
        let mut test_case = TestCase::new(case.name.as_str(), status);
        test_case.set_classname(suite_name);
        test_case.set_time(case.time);
        test_case.set_system_out(case.details.as_str());
        suite.add_test_case(test_case);
    }
    let mut report = Report::new("splitbrain");
    report.add_test_suite(suite);
    let xml = report
        .to_string()
        .context("failed to serialize the JUnit report")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
    }
    std::fs::write(path, xml)
        .with_context(|| format!("failed to write the JUnit report {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_their_message_and_text_is_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        write(
            &path,
            "self-check",
            &[
                Case {
                    name: "safe <kill> seed=1".into(),
                    failure: None,
                    details: "ok".into(),
                    time: Duration::from_secs(3),
                },
                Case {
                    name: "bully seed=2".into(),
                    failure: Some("expected split-brain, found none".into()),
                    details: "valid & sound".into(),
                    time: Duration::from_secs(4),
                },
            ],
        )
        .unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert!(
            xml.contains(r#"tests="2""#) && xml.contains(r#"failures="1""#),
            "{xml}"
        );
        assert!(xml.contains("expected split-brain, found none"));
        assert!(xml.contains("safe &lt;kill&gt; seed=1"), "{xml}");
        assert!(!xml.contains("valid & sound"), "unescaped ampersand: {xml}");
    }
}
