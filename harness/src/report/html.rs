//! Escaping: everything that came from a history, a log or a config is text.
//!
//! Two contexts exist in the report. Element content and attribute values
//! get [`escape`]; data handed to the page's script sits in a
//! `<script type="application/json">` block, where only `</script>` (or
//! `<!--`) could end it early, so [`json_for_script`] writes `<`, `>` and `&`
//! as JSON `\u` escapes, which `JSON.parse` turns back into the same text.

use std::fmt::Write as _;

/// Escapes text for element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than whitespace are not valid HTML text.
            c if c.is_control() && c != '\n' && c != '\t' && c != '\r' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Serializes `value` for a `<script type="application/json">` element.
pub fn json_for_script(value: &serde_json::Value) -> String {
    let raw = value.to_string();
    // One pass over bytes copying the runs between specials: the block is
    // megabytes of numbers with few of these.
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut copied = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped = match b {
            b'<' => "\\u003c",
            b'>' => "\\u003e",
            b'&' => "\\u0026",
            // U+2028 and U+2029 (E2 80 A8/A9): valid in JSON strings, but
            // line terminators to older JS engines.
            0xE2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                if bytes[i + 2] == 0xA8 {
                    "\\u2028"
                } else {
                    "\\u2029"
                }
            }
            _ => continue,
        };
        out.push_str(&raw[copied..i]);
        out.push_str(escaped);
        copied = if escaped.starts_with("\\u202") {
            i + 3
        } else {
            i + 1
        };
    }
    out.push_str(&raw[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_becomes_entities() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn script_data_cannot_close_its_element_and_parses_back_to_the_same_text() {
        let v = serde_json::json!({"key": "</script><script>alert(1)</script><!-- & \u{2028}é\u{2029}"});
        let s = json_for_script(&v);
        assert!(!s.contains(['<', '>', '&', '\u{2028}', '\u{2029}']), "{s}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }
}
