//! Streaming JSON Lines reader: one reused line buffer, borrowed fields, and
//! errors that name the file, the line and the reason.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc;

use serde::Deserialize;

use super::builder::{Builder, Record};
use super::model::{History, OpType, Process};
pub use super::problems::{HistoryError, Warning};
use super::value::CompactValue;

/// Longest line accepted. A read of a large resource is one line, so this is
/// generous; it exists so a file without newlines cannot exhaust memory.
pub const MAX_LINE_BYTES: u64 = 256 << 20;

/// A line as written, borrowing its strings from the line buffer. Unknown
/// fields (`node`, `error`, later additions) are skipped without allocating.
#[derive(Deserialize)]
struct RawRecord<'a> {
    index: u64,
    time: i64,
    process: Process,
    #[serde(rename = "type")]
    kind: OpType,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(borrow, default)]
    key: Option<Cow<'a, str>>,
    #[serde(default)]
    token: Option<u64>,
    #[serde(default)]
    valid_until: Option<i64>,
    #[serde(default)]
    value: Option<CompactValue>,
}

/// Reads and validates a history file. See [`read_history_from`].
pub fn read_history(path: impl AsRef<Path>) -> Result<(History, Vec<Warning>), HistoryError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| HistoryError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    read_history_from(file, &path.display().to_string())
}

/// Reads and validates a history from any reader; `origin` names it in errors.
///
/// Blank lines are skipped. A last line that has no newline and does not parse
/// is taken for the tail of a crashed run: the history is checked up to the
/// line before, with a warning. Anything else that does not parse, or breaks
/// the contract (see [`crate::history`]), is an error naming the line.
///
/// Parsing is ~75% of the cost of a check, so it runs on every core: a reader
/// thread cuts the input into blocks of whole lines and deals them round-robin
/// to parser threads, and this thread takes the parsed blocks back in the same
/// round-robin order (so in file order) and validates them one record at a
/// time. Channels are bounded, so at most a few blocks are in memory.
pub fn read_history_from<R: Read + Send>(
    reader: R,
    origin: &str,
) -> Result<(History, Vec<Warning>), HistoryError> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, MAX_PARSERS);
    std::thread::scope(|scope| {
        let mut to_parsers = Vec::with_capacity(workers);
        let mut from_parsers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (block_tx, block_rx) = mpsc::sync_channel::<Block>(IN_FLIGHT_PER_PARSER);
            let (parsed_tx, parsed_rx) = mpsc::sync_channel::<Parsed>(IN_FLIGHT_PER_PARSER);
            scope.spawn(move || {
                for block in block_rx {
                    if parsed_tx.send(parse_block(block)).is_err() {
                        break;
                    }
                }
            });
            to_parsers.push(block_tx);
            from_parsers.push(parsed_rx);
        }
        scope.spawn(move || cut_blocks(reader, &to_parsers));
        // Returning drops the receivers, which stops the parsers and the
        // reader early when this ends in an error.
        build(&from_parsers, origin)
    })
}

/// Most parser threads used, however many cores there are.
const MAX_PARSERS: usize = 4;
/// Blocks queued per parser, each way.
const IN_FLIGHT_PER_PARSER: usize = 2;
/// Bytes read per block (a block is then cut back to its last newline).
const BLOCK_BYTES: u64 = 1 << 20;

/// Whole lines of the input, or why the input could not be read further.
enum Block {
    Lines {
        data: Vec<u8>,
        /// The input ended without a newline; `data` is that one last line.
        unterminated: bool,
    },
    Failed(ReadFailure),
}

enum ReadFailure {
    Io(std::io::Error),
    LineTooLong,
}

/// A string field: a span of its block, or owned when JSON escapes changed it.
enum Text {
    Span(u32, u32),
    Owned(Box<str>),
}

/// One parsed line, owning or pointing into its block.
struct ParsedRecord {
    /// Line number within the block, from 1.
    line: u64,
    index: u64,
    time: i64,
    process: Process,
    kind: OpType,
    f: Text,
    key: Option<Text>,
    token: Option<u64>,
    valid_until: Option<i64>,
    value: Option<CompactValue>,
}

enum Parsed {
    Lines {
        data: Vec<u8>,
        records: Vec<ParsedRecord>,
        /// Lines in the block, counted up to `error` if there is one.
        lines: u64,
        /// The first line that did not parse, and why.
        error: Option<(u64, String)>,
        unterminated: bool,
    },
    Failed(ReadFailure),
}

/// Reads `reader` into blocks that end at a newline and deals them out.
fn cut_blocks<R: Read>(mut reader: R, parsers: &[mpsc::SyncSender<Block>]) {
    let mut turn = 0;
    let mut send = |block: Block| {
        let ok = parsers[turn % parsers.len()].send(block).is_ok();
        turn += 1;
        ok
    };
    let block = BLOCK_BYTES as usize;
    let mut buf: Vec<u8> = Vec::with_capacity(block);
    loop {
        // Room for a whole block up front: letting read_to_end grow the
        // buffer would copy it over and over. Only a line longer than a block
        // grows it, once per block read.
        buf.reserve(block);
        let start = buf.len();
        let read = (&mut reader).take(BLOCK_BYTES).read_to_end(&mut buf);
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                send(Block::Failed(ReadFailure::Io(e)));
                return;
            }
        };
        if n == 0 {
            if !buf.is_empty() {
                send(Block::Lines {
                    data: buf,
                    unterminated: true,
                });
            }
            return;
        }
        match buf[start..].iter().rposition(|&b| b == b'\n') {
            Some(pos) => {
                let cut = start + pos + 1;
                let mut next = Vec::with_capacity(block + (buf.len() - cut));
                next.extend_from_slice(&buf[cut..]);
                buf.truncate(cut);
                if !send(Block::Lines {
                    data: std::mem::replace(&mut buf, next),
                    unterminated: false,
                }) {
                    return;
                }
            }
            None if buf.len() as u64 > MAX_LINE_BYTES => {
                send(Block::Failed(ReadFailure::LineTooLong));
                return;
            }
            None => {}
        }
    }
}

fn text_of(s: Cow<'_, str>, base: usize) -> Text {
    match s {
        // Offsets fit: blocks are at most BLOCK_BYTES plus one line of at
        // most MAX_LINE_BYTES, both far below 4 GiB.
        Cow::Borrowed(b) => Text::Span((b.as_ptr() as usize - base) as u32, b.len() as u32),
        Cow::Owned(o) => Text::Owned(o.into_boxed_str()),
    }
}

fn parse_block(block: Block) -> Parsed {
    let (data, unterminated) = match block {
        Block::Lines { data, unterminated } => (data, unterminated),
        Block::Failed(f) => return Parsed::Failed(f),
    };
    let base = data.as_ptr() as usize;
    let mut records = Vec::with_capacity(data.len() / 96);
    let mut lines = 0;
    let mut error = None;
    for raw_line in data.split_inclusive(|&b| b == b'\n') {
        lines += 1;
        let mut text: &[u8] = raw_line;
        while let [rest @ .., b'\n' | b'\r'] = text {
            text = rest;
        }
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // One UTF-8 check for the whole line is cheaper than serde_json's
        // check of each string in it.
        let parsed = match std::str::from_utf8(text) {
            Ok(text) => serde_json::from_str::<RawRecord<'_>>(text).map_err(|e| describe(&e)),
            Err(e) => Err(format!("not UTF-8: {e}")),
        };
        match parsed {
            Ok(raw) => records.push(ParsedRecord {
                line: lines,
                index: raw.index,
                time: raw.time,
                process: raw.process,
                kind: raw.kind,
                f: text_of(raw.f, base),
                key: raw.key.map(|k| text_of(k, base)),
                token: raw.token,
                valid_until: raw.valid_until,
                value: raw.value,
            }),
            Err(reason) => {
                error = Some((lines, reason));
                break;
            }
        }
    }
    Parsed::Lines {
        data,
        records,
        lines,
        error,
        unterminated,
    }
}

fn resolve<'a>(t: &'a Text, data: &'a [u8]) -> Result<&'a str, String> {
    match t {
        Text::Owned(s) => Ok(s),
        Text::Span(at, len) => {
            let (at, len) = (*at as usize, *len as usize);
            data.get(at..at + len)
                .and_then(|b| std::str::from_utf8(b).ok())
                .ok_or_else(|| "failed to re-read a parsed field (a bug)".to_string())
        }
    }
}

/// Takes parsed blocks back in file order and validates them.
fn build(
    parsers: &[mpsc::Receiver<Parsed>],
    origin: &str,
) -> Result<(History, Vec<Warning>), HistoryError> {
    let invalid = |line: u64, reason: String| HistoryError::Invalid {
        origin: origin.to_string(),
        line,
        reason,
    };
    let mut builder = Builder::new();
    let mut warnings = Vec::new();
    // Lines in the blocks before this one.
    let mut before: u64 = 0;
    for turn in 0.. {
        // The reader deals in turn, so the first parser with nothing left
        // marks the end of the input.
        let Ok(parsed) = parsers[turn % parsers.len()].recv() else {
            break;
        };
        let (data, records, lines, error, unterminated) = match parsed {
            Parsed::Lines {
                data,
                records,
                lines,
                error,
                unterminated,
            } => (data, records, lines, error, unterminated),
            Parsed::Failed(ReadFailure::Io(source)) => {
                return Err(HistoryError::Io {
                    origin: origin.to_string(),
                    line: before + 1,
                    source,
                })
            }
            Parsed::Failed(ReadFailure::LineTooLong) => {
                return Err(invalid(
                    before + 1,
                    format!("line is longer than {MAX_LINE_BYTES} bytes"),
                ))
            }
        };
        for r in records {
            let line = before + r.line;
            let f = resolve(&r.f, &data).map_err(|e| invalid(line, e))?;
            let key = match &r.key {
                Some(k) => Some(resolve(k, &data).map_err(|e| invalid(line, e))?),
                None => None,
            };
            builder
                .push(Record {
                    index: r.index,
                    time: r.time,
                    process: r.process,
                    kind: r.kind,
                    f,
                    key,
                    token: r.token,
                    valid_until: r.valid_until,
                    value: r.value,
                })
                .map_err(|reason| invalid(line, reason))?;
        }
        if let Some((at, reason)) = error {
            let line = before + at;
            if unterminated {
                warnings.push(Warning {
                    line: Some(line),
                    message: format!(
                        "last line is cut off (no newline at end of file, {reason}); \
                         checked up to line {}",
                        line - 1
                    ),
                });
                break;
            }
            return Err(invalid(line, reason));
        }
        before += lines;
    }
    let (history, more) = builder.finish();
    warnings.extend(more);
    Ok((history, warnings))
}

/// serde_json's message without its "at line 1 column N" (always line 1 here),
/// with the column kept.
fn describe(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    let what = match e.classify() {
        serde_json::error::Category::Eof => "incomplete JSON",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "not a v1 record",
        serde_json::error::Category::Io => "unreadable",
    };
    format!("{what}: {msg} (column {})", e.column())
}
