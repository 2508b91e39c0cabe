//! The reader on inputs larger than one parse block (1 MiB): line numbers
//! across block boundaries, a cut-off tail after many blocks, escaped strings.

use splitbrain_checkers::check;
use splitbrain_checkers::history::{read_history_from, HistoryError};
use splitbrain_checkers::verdict::Validity;

/// `rounds` acquire/release rounds on lock `k`: four lines each, ~90 bytes a line.
fn rounds(rounds: u64) -> Vec<String> {
    let mut lines = Vec::new();
    for r in 0..rounds {
        let (i, t, p) = (r * 4, r as i64 * 4_000, r % 7);
        lines.push(format!(
            r#"{{"index":{i},"time":{t},"process":{p},"type":"invoke","f":"acquire","key":"k"}}"#
        ));
        lines.push(format!(
            r#"{{"index":{},"time":{},"process":{p},"type":"ok","f":"acquire","key":"k","token":{}}}"#,
            i + 1,
            t + 1_000,
            r + 1
        ));
        lines.push(format!(
            r#"{{"index":{},"time":{},"process":{p},"type":"invoke","f":"release","key":"k","token":{}}}"#,
            i + 2,
            t + 2_000,
            r + 1
        ));
        lines.push(format!(
            r#"{{"index":{},"time":{},"process":{p},"type":"ok","f":"release","key":"k"}}"#,
            i + 3,
            t + 3_000
        ));
    }
    lines
}

fn joined(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn a_history_of_many_blocks_reads_whole_and_in_order() {
    let lines = rounds(20_000);
    let text = joined(&lines);
    assert!(text.len() > 5 << 20, "spans several blocks");
    let (h, warnings) = read_history_from(text.as_bytes(), "big").unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(h.event_count(), 80_000);
    assert_eq!(check(&h).valid, Validity::Valid);
}

#[test]
fn an_error_deep_in_a_large_history_names_its_line() {
    let mut lines = rounds(20_000);
    for bad in [1, 12_345, 50_001, 79_999] {
        let saved = std::mem::replace(&mut lines[bad - 1], "{not json".to_string());
        let err = read_history_from(joined(&lines).as_bytes(), "big").unwrap_err();
        match err {
            HistoryError::Invalid { line, .. } => assert_eq!(line, bad as u64),
            other => panic!("expected an invalid line, got {other}"),
        }
        lines[bad - 1] = saved;
    }
}

#[test]
fn blank_lines_count_toward_line_numbers() {
    let mut lines = rounds(30_000);
    lines.insert(100, String::new());
    lines.insert(200, "   ".to_string());
    lines[70_000] = r#"{"index":"x"}"#.to_string();
    match read_history_from(joined(&lines).as_bytes(), "big").unwrap_err() {
        HistoryError::Invalid { line, .. } => assert_eq!(line, 70_001),
        other => panic!("expected an invalid line, got {other}"),
    }
}

#[test]
fn a_cut_off_tail_after_many_blocks_is_checked_up_to_the_line_before() {
    let lines = rounds(20_000);
    let mut text = joined(&lines);
    text.push_str(r#"{"index":80000,"time":99999999,"process":1,"type":"inv"#);
    let (h, warnings) = read_history_from(text.as_bytes(), "big").unwrap();
    assert_eq!(h.event_count(), 80_000);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].line, Some(80_001));
    assert!(warnings[0].message.contains("checked up to line 80000"));
}

#[test]
fn a_complete_last_line_without_a_newline_is_read_without_warning() {
    let lines = rounds(3);
    let text = joined(&lines);
    let (h, warnings) = read_history_from(text.trim_end().as_bytes(), "small").unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(h.event_count(), 12);
}

#[test]
fn escaped_keys_read_as_the_string_they_spell() {
    let text = concat!(
        r#"{"index":0,"time":0,"process":1,"type":"invoke","f":"acquire","key":"lock\u002dA"}"#,
        "\n",
        r#"{"index":1,"time":1,"process":1,"type":"ok","f":"acquire","key":"lock-A","token":1}"#,
        "\n",
    );
    let (h, _) = read_history_from(text.as_bytes(), "escaped").unwrap();
    assert_eq!(h.key_count(), 1);
    assert_eq!(h.key_name(h.ops()[0].key), "lock-A");
}

#[test]
fn invalid_utf8_is_an_error_naming_its_line() {
    let mut text = joined(&rounds(2)).into_bytes();
    text.extend_from_slice(b"{\"index\":8,\"f\":\"\xff\"}\n");
    match read_history_from(&text[..], "latin1").unwrap_err() {
        HistoryError::Invalid { line, reason, .. } => {
            assert_eq!(line, 9);
            assert!(reason.contains("not UTF-8"), "{reason}");
        }
        other => panic!("expected an invalid line, got {other}"),
    }
}
