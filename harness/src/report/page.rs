//! The page itself: server-side HTML for everything static (banner,
//! anomalies, checkers, charts, configuration, logs) and one JSON block the
//! timeline script draws from.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde_json::{json, Value};
use splitbrain_checkers::verdict::{Anomaly, Validity};
use splitbrain_records::RunRecord;

use super::charts::{self, f_colour, fault_colour, OUTCOME_COLOURS};
use super::html::{escape, json_for_script};
use super::inputs::Inputs;
use super::timeline::{Outcome, TimedOp, Timeline};

const CSS: &str = include_str!("assets/report.css");
const SCRIPT: &str = include_str!("assets/timeline.js");
/// Anomalies shown as cards; the rest are counted (all are in results.json).
const MAX_CARDS: usize = 50;
/// Possible overlaps shown.
const MAX_POSSIBLE: usize = 20;
/// Ops handed to the timeline script (about 45 bytes each in the page); a
/// longer history is drawn up to here and says so.
const MAX_DRAWN_OPS: usize = 2_000_000;

pub fn render(inp: &Inputs) -> String {
    let t = &inp.timeline;
    let by_index = t.index_map();
    let mut out = String::with_capacity(64 * 1024 + t.ops.len() * 64);
    let title = format!("splitbrain report: {}", run_name(inp));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>",
        escape(&title)
    );
    banner(&mut out, inp);
    out.push_str(r##"<nav><a href="#anomalies">Anomalies</a><a href="#timeline">Timeline</a><a href="#charts">Latency &amp; throughput</a><a href="#checkers">Checkers</a><a href="#config">Configuration</a><a href="#logs">Logs</a></nav><main>"##);
    notes(&mut out, inp);
    anomalies(&mut out, inp, &by_index);
    timeline_section(&mut out, t);
    out.push_str(r#"<section id="charts"><h2>Latency &amp; throughput</h2>"#);
    chart_legend(&mut out, t);
    out.push_str(&charts::latency_svg(t));
    out.push_str(&charts::throughput_svg(t));
    out.push_str("</section>");
    checkers(&mut out, inp);
    config(&mut out, inp);
    logs(&mut out, inp);
    out.push_str("</main>");
    let data = timeline_data(inp, &by_index);
    let _ = writeln!(
        out,
        "<script type=\"application/json\" id=\"sb-data\">{}</script><script>{SCRIPT}</script></body></html>",
        json_for_script(&data)
    );
    out
}

fn run_name(inp: &Inputs) -> String {
    inp.run
        .as_ref()
        .map(|r| r.run_id.clone())
        .unwrap_or_else(|| {
            inp.run_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
}

fn seconds(ns: i64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn banner(out: &mut String, inp: &Inputs) {
    let (class, word) = match inp.report.as_ref().map(|r| r.valid) {
        Some(Validity::Valid) => ("valid", "VALID"),
        Some(Validity::Invalid) => ("invalid", "INVALID"),
        Some(Validity::Unknown) | None => ("unknown", "UNKNOWN"),
    };
    let _ = write!(
        out,
        r#"<header id="banner" class="banner {class}" data-verdict="{class}"><div class="verdict">{word}</div><div class="banner-text">"#
    );
    match &inp.report {
        Some(r) if !r.anomalies.is_empty() || r.anomaly_count > 0 => {
            let mut kinds: BTreeMap<(&str, &str), usize> = BTreeMap::new();
            for a in &r.anomalies {
                *kinds.entry((a.kind.as_str(), a.key.as_str())).or_default() += 1;
            }
            let parts: Vec<String> = kinds
                .iter()
                .map(|((k, key), n)| {
                    let times = if *n > 1 { format!(" ×{n}") } else { String::new() };
                    format!("<b>{}</b> on <code>{}</code>{times}", escape(k), escape(key))
                })
                .collect();
            let _ = write!(
                out,
                "<div class=\"headline\">{}: {}</div>",
                plural(r.anomaly_count as usize, "anomaly", "anomalies"),
                parts.join(", ")
            );
        }
        Some(r) => {
            let line = match (&r.reason, r.valid) {
                (Some(reason), _) => reason.clone(),
                (None, Validity::Valid) => "every checker passed".to_string(),
                (None, _) => "no anomaly proven".to_string(),
            };
            let _ = write!(out, "<div class=\"headline\">{}</div>", escape(&line));
        }
        None => out.push_str("<div class=\"headline\">no verdict: results.json is missing and the history could not be checked</div>"),
    }
    let mut facts = vec![format!("run <code>{}</code>", escape(&run_name(inp)))];
    if let Some(run) = &inp.run {
        if let Some(target) = &run.target {
            facts.push(format!(
                "target {}",
                escape(&format!(
                    "{} {}",
                    target.name,
                    short_version(&target.version)
                ))
            ));
        }
        facts.push(format!("workload {}", escape(run.config.workload.as_str())));
        facts.push(format!("seed <code>{}</code>", run.seed));
    }
    let t = &inp.timeline;
    facts.push(format!(
        "{} over {} by {}",
        plural(t.ops.len(), "op", "ops"),
        seconds(t.end_ns),
        plural(
            t.lanes.iter().map(|l| l.processes.len()).sum(),
            "process",
            "processes"
        )
    ));
    let faults = t.windows.iter().filter(|w| !w.instant).count();
    let windows = t.fault_stretches();
    facts.push(if windows == faults {
        plural(faults, "fault window", "fault windows")
    } else {
        format!(
            "{} in {}",
            plural(faults, "fault", "faults"),
            plural(windows, "window", "windows")
        )
    });
    let _ = write!(
        out,
        "<div class=\"facts\">{}</div></div></header>",
        facts.join(" · ")
    );
}

/// A service's `--version` output cut to its version number for the banner
/// (`etcd Version: 3.4.23 Git SHA: ...` -> `3.4.23`, `Redis server
/// v=7.0.15 ...` -> `7.0.15`); the configuration
/// section shows it whole.
fn short_version(v: &str) -> String {
    let mut words = v.split_whitespace();
    while let Some(w) = words.next() {
        // redis-server --version: "Redis server v=7.0.15 sha=..."
        if let Some(n) = w.strip_prefix("v=") {
            return n.to_string();
        }
        if w.eq_ignore_ascii_case("version:") || w.eq_ignore_ascii_case("version") {
            if let Some(n) = words.next() {
                return n.trim_start_matches('v').to_string();
            }
        }
    }
    super::timeline::shorten(v.lines().next().unwrap_or(""), 32)
}

fn notes(out: &mut String, inp: &Inputs) {
    let mut items: Vec<String> = inp.notes.clone();
    if let Some(r) = &inp.report {
        items.extend(r.warnings.iter().map(|w| format!("history warning: {w}")));
    }
    if let Some(liveness) = &inp.liveness {
        items.extend(liveness.problems.iter().map(|p| format!("liveness: {p}")));
    }
    if items.is_empty() {
        return;
    }
    out.push_str("<ul class=\"notes\">");
    for n in items {
        let _ = write!(out, "<li>{}</li>", escape(&n));
    }
    out.push_str("</ul>");
}

fn op_row(out: &mut String, t: &Timeline, pos: usize, op: &TimedOp) {
    let outcome = op.outcome.as_str();
    let complete = op
        .complete_index
        .map(|c| c.to_string())
        .unwrap_or_else(|| "—".to_string());
    let end = op
        .end_ns
        .map(seconds)
        .unwrap_or_else(|| "never".to_string());
    let token = op.token.map(|t| t.to_string()).unwrap_or_default();
    let mut detail = Vec::new();
    if let Some(n) = &op.node {
        detail.push(format!("node {}", escape(n)));
    }
    if let Some(v) = &op.value {
        detail.push(format!("value <code>{}</code>", escape(v)));
    }
    if let Some(e) = &op.error {
        detail.push(format!("error <span class=\"err\">{}</span>", escape(e)));
    }
    let _ = write!(
        out,
        r##"<tr class="op-row" data-op="{pos}"><td><a class="op-link" href="#timeline" data-op="{pos}">#{ii} → #{complete}</a></td><td>p{p}</td><td><span class="swatch" style="background:{col}"></span>{f}</td><td><code>{key}</code></td><td class="o-{outcome}">{outcome}</td><td>{token}</td><td>{start} → {end}</td><td>{detail}</td></tr>"##,
        ii = op.invoke_index,
        p = op.process,
        col = f_colour(&t.fs[op.f as usize]),
        f = escape(&t.fs[op.f as usize]),
        key = escape(&t.keys[op.key as usize]),
        start = seconds(op.start_ns),
        detail = detail.join(" · "),
    );
}

const OP_TABLE_HEAD: &str = "<table class=\"ops\"><thead><tr><th>history index</th><th>process</th><th>op</th><th>key</th><th>outcome</th><th>token</th><th>invoked → completed</th><th>detail</th></tr></thead><tbody>";

/// Positions in `t.ops` of the ops an anomaly names, without repeats.
fn positions(indices: &[u64], by_index: &HashMap<u64, usize>) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for i in indices {
        if let Some(&p) = by_index.get(i) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

fn anomalies(out: &mut String, inp: &Inputs, by_index: &HashMap<u64, usize>) {
    let t = &inp.timeline;
    out.push_str(r#"<section id="anomalies"><h2>Anomalies</h2>"#);
    let Some(r) = &inp.report else {
        out.push_str("<p>No verdict available.</p></section>");
        return;
    };
    if r.anomalies.is_empty() {
        out.push_str("<p class=\"none\">No anomaly was proven in this history.</p>");
    }
    for (n, a) in r.anomalies.iter().enumerate().take(MAX_CARDS) {
        anomaly_card(out, t, n, a, by_index);
    }
    if r.anomaly_count as usize > MAX_CARDS.min(r.anomalies.len()) {
        let _ = write!(
            out,
            "<p>{} more not shown here; results.json lists up to 100 per checker and key.</p>",
            r.anomaly_count as usize - MAX_CARDS.min(r.anomalies.len())
        );
    }
    let possible: Vec<(&String, &splitbrain_checkers::report::Possible)> = r
        .checkers
        .iter()
        .flat_map(|(name, c)| c.possible.iter().map(move |p| (name, p)))
        .collect();
    if !possible.is_empty() {
        let _ = write!(
            out,
            "<details class=\"possible\"><summary>{} (an overlap with an operation that ended <code>info</code>: not proof, worth a look)</summary>",
            plural(possible.len(), "possible overlap", "possible overlaps")
        );
        for (name, p) in possible.iter().take(MAX_POSSIBLE) {
            let ops = positions(&p.ops, by_index);
            let list: Vec<String> = ops.iter().map(|p| p.to_string()).collect();
            let _ = write!(
                out,
                r#"<div class="possible-item"><button class="show-ops" data-ops="{}">Show on timeline</button> <b>{}</b> on <code>{}</code>: {}</div>"#,
                list.join(","),
                escape(name),
                escape(&p.key),
                escape(&p.explanation)
            );
        }
        out.push_str("</details>");
    }
    out.push_str("</section>");
}

fn anomaly_card(
    out: &mut String,
    t: &Timeline,
    n: usize,
    a: &Anomaly,
    by_index: &HashMap<u64, usize>,
) {
    let ops = positions(&a.ops, by_index);
    let list: Vec<String> = ops.iter().map(|p| p.to_string()).collect();
    let _ = write!(
        out,
        r#"<div class="anomaly" id="anomaly-{n}" data-ops="{ops}"><div class="anomaly-head"><span class="kind">{kind}</span> on <code>{key}</code><button class="show-ops" data-anomaly="{n}" data-ops="{ops}">Show on timeline</button></div><p class="explanation">{expl}</p>"#,
        ops = list.join(","),
        kind = escape(a.kind.as_str()),
        key = escape(&a.key),
        expl = escape(&a.explanation),
    );
    out.push_str(OP_TABLE_HEAD);
    for &p in &ops {
        op_row(out, t, p, &t.ops[p]);
    }
    for i in &a.ops {
        if !by_index.contains_key(i) {
            let _ = write!(out, "<tr><td>#{i}</td><td colspan=\"7\">not a client operation in this history</td></tr>");
        }
    }
    out.push_str("</tbody></table></div>");
}

fn timeline_section(out: &mut String, t: &Timeline) {
    out.push_str(r#"<section id="timeline"><h2>Timeline</h2>"#);
    if t.ops.len() > MAX_DRAWN_OPS {
        let _ = write!(
            out,
            "<p class=\"notes\">The timeline draws the first {MAX_DRAWN_OPS} of {} operations; the charts and tables cover all of them.</p>",
            t.ops.len()
        );
    }
    out.push_str(r#"<div class="toolbar"><button id="tl-fit">Whole run</button><button id="tl-in">Zoom in</button><button id="tl-out">Zoom out</button><button id="tl-sel">Selected ops</button><span id="tl-range" class="range"></span><span class="hint">wheel: zoom · drag: pan · click an op: details</span></div><div class="legend">"#);
    let mut fs: Vec<&str> = t.fs.iter().map(String::as_str).collect();
    fs.sort();
    for f in fs {
        let _ = write!(
            out,
            r#"<span><i class="swatch" style="background:{}"></i>{}</span>"#,
            f_colour(f),
            escape(f)
        );
    }
    out.push_str(r#"<span><i class="swatch fail"></i>failed</span><span><i class="swatch info"></i>info / pending (unknown)</span><span><i class="swatch hold"></i>lock hold / leadership, coloured by token (dashed: uncertain, the grant ended info)</span><span><i class="swatch hl"></i>selected (anomaly) ops</span><span><i class="swatch" style="background:#94a3b8"></i>many ops per pixel (zoom in)</span>"#);
    let mut labels: Vec<&str> = t.windows.iter().map(|w| w.label.as_str()).collect();
    labels.sort();
    labels.dedup();
    for l in labels {
        let _ = write!(
            out,
            r#"<span><i class="swatch" style="background:{};opacity:.45"></i>{}</span>"#,
            fault_colour(l),
            escape(l)
        );
    }
    out.push_str(r#"</div><div id="tl-wrap"><canvas id="tl-canvas"></canvas><div id="tl-overlay"></div><div id="tl-tip" hidden></div></div><div id="tl-detail" class="detail">Click an operation or a hold for its details.</div></section>"#);
}

fn chart_legend(out: &mut String, t: &Timeline) {
    out.push_str("<div class=\"legend\">");
    let mut fs: Vec<&str> = t.fs.iter().map(String::as_str).collect();
    fs.sort();
    for f in fs {
        let _ = write!(
            out,
            r#"<span><i class="swatch" style="background:{}"></i>{}</span>"#,
            f_colour(f),
            escape(f)
        );
    }
    out.push_str("<span>● ok</span><span>✕ fail</span><span>□ info</span>");
    for (name, colour) in OUTCOME_COLOURS {
        let _ = write!(
            out,
            r#"<span><i class="swatch" style="background:{colour}"></i>{name} (throughput)</span>"#
        );
    }
    out.push_str("</div>");
}

fn validity_cell(v: Validity) -> &'static str {
    match v {
        Validity::Valid => "<td class=\"v-valid\">valid</td>",
        Validity::Invalid => "<td class=\"v-invalid\">INVALID</td>",
        Validity::Unknown => "<td class=\"v-unknown\">unknown</td>",
    }
}

fn checkers(out: &mut String, inp: &Inputs) {
    out.push_str(r#"<section id="checkers"><h2>Checkers</h2>"#);
    let Some(r) = &inp.report else {
        out.push_str("<p>No verdict available.</p></section>");
        return;
    };
    out.push_str("<table class=\"grid\"><thead><tr><th>checker</th><th>verdict</th><th>keys checked</th><th>anomalies</th><th>possible</th><th>reason</th></tr></thead><tbody>");
    for (name, c) in &r.checkers {
        let _ = write!(
            out,
            "<tr><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            validity_cell(c.valid),
            c.keys_checked,
            c.anomaly_count,
            c.possible_count,
            escape(c.reason.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table>");
    if let Some(l) = &inp.liveness {
        let _ = write!(
            out,
            "<h3>Liveness</h3><p>grants after the final heal: <b>{}</b>{}{}</p>",
            l.grants_after_heal,
            if l.interrupted {
                " · the run was interrupted"
            } else {
                ""
            },
            if l.final_reads_missing.is_empty() {
                String::new()
            } else {
                format!(
                    " · final read missing for {}",
                    escape(&json!(l.final_reads_missing).to_string())
                )
            }
        );
    }
    let s = &r.stats;
    let _ = write!(
        out,
        "<h3>Operations</h3><p>{}, {} by {} on {}.</p><table class=\"grid\"><thead><tr><th>op</th><th>ok</th><th>fail</th><th>info</th><th>pending</th></tr></thead><tbody>",
        plural(s.events as usize, "record", "records"),
        plural(s.client_ops as usize, "client op", "client ops"),
        plural(s.processes as usize, "process", "processes"),
        plural(s.keys as usize, "key", "keys")
    );
    for (f, c) in &s.ops {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(f),
            c.ok,
            c.fail,
            c.info,
            c.pending
        );
    }
    out.push_str("</tbody></table>");
    let t = &inp.timeline;
    if !t.windows.is_empty() {
        out.push_str("<h3>Faults</h3><table class=\"grid\"><thead><tr><th>fault</th><th>from</th><th>to</th><th>target</th><th>error</th></tr></thead><tbody>");
        for w in &t.windows {
            let _ = write!(
                out,
                "<tr><td><i class=\"swatch\" style=\"background:{}\"></i>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"err\">{}</td></tr>",
                fault_colour(&w.label),
                escape(&w.label),
                seconds(w.start_ns),
                if w.instant { "—".to_string() } else { seconds(w.end_ns) },
                escape(&w.detail),
                escape(w.error.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
}

fn config(out: &mut String, inp: &Inputs) {
    out.push_str(r#"<section id="config"><h2>Configuration</h2>"#);
    if inp.run.is_none() && inp.run_json.is_none() {
        out.push_str("<p>run.json is missing.</p></section>");
        return;
    }
    if let Some(run) = &inp.run {
        config_list(out, run);
    }
    if let Some(stored) = &inp.run_json {
        let _ = write!(
            out,
            "<details><summary>run.json</summary><pre>{}</pre></details>",
            escape(stored)
        );
    }
    out.push_str("</section>");
}

/// A record section as one line of JSON.
fn compact(section: &impl serde::Serialize) -> String {
    serde_json::to_string(section).unwrap_or_default()
}

/// The run record's facts as a definition list; a fact the run did not get
/// as far as recording is a dash.
fn config_list(out: &mut String, run: &RunRecord) {
    let target = run.target.as_ref();
    let rows: [(&str, Option<String>); 9] = [
        ("seed", Some(run.seed.to_string())),
        ("target", target.map(|t| t.name.clone())),
        ("target version", target.map(|t| t.version.clone())),
        ("fencing tokens", target.and_then(|t| t.token_note.clone())),
        (
            "clock faults",
            run.clock_faults.clone().flatten().map(|c| compact(&c)),
        ),
        ("harness version", Some(run.harness.version.clone())),
        ("harness revision", Some(run.harness.git_revision.clone())),
        ("image", run.image.clone()),
        ("schedule", run.schedule.as_ref().map(compact)),
    ];
    out.push_str("<dl class=\"config\">");
    for (name, v) in rows {
        let _ = write!(
            out,
            "<dt>{name}</dt><dd><code>{}</code></dd>",
            escape(v.as_deref().unwrap_or("—"))
        );
    }
    if let Some(target) = target {
        let list: Vec<String> = target
            .nodes
            .iter()
            .map(|n| format!("{} ({})", n.name, n.ip))
            .collect();
        let _ = write!(out, "<dt>nodes</dt><dd>{}</dd>", escape(&list.join(", ")));
    }
    out.push_str("</dl>");
}

fn logs(out: &mut String, inp: &Inputs) {
    out.push_str(r#"<section id="logs"><h2>Logs</h2>"#);
    if inp.logs.is_empty() {
        out.push_str("<p>No logs were collected.</p>");
    }
    for l in &inp.logs {
        if l.lines.is_empty() {
            let _ = write!(
                out,
                "<p class=\"log-empty\"><code>{}</code> is empty</p>",
                escape(&l.name)
            );
            continue;
        }
        let _ = write!(
            out,
            "<details class=\"log\"{}><summary><code>{}</code> — last {}{}</summary><pre>",
            // Node logs open: they are what a reader looks at next to the anomaly.
            if l.name.starts_with(crate::store::NODES_DIR) {
                " open"
            } else {
                ""
            },
            escape(&l.name),
            plural(l.lines.len(), "line", "lines"),
            if l.truncated { " (tail)" } else { "" }
        );
        for line in &l.lines {
            out.push_str(&escape(line));
            out.push('\n');
        }
        out.push_str("</pre></details>");
    }
    out.push_str("</section>");
}

/// The timeline's data: ops and holds as column arrays (times in µs), faults,
/// and the anomalies' op positions.
fn timeline_data(inp: &Inputs, by_index: &HashMap<u64, usize>) -> Value {
    let t = &inp.timeline;
    let us = |ns: i64| ns / 1000;
    let n = t.ops.len();
    let (
        mut lane,
        mut f,
        mut key,
        mut start,
        mut dur,
        mut outcome,
        mut token,
        mut process,
        mut inv,
        mut cmp,
        mut extra,
    ) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut extras: Vec<String> = vec![String::new()];
    let mut extra_ids: HashMap<String, usize> = HashMap::new();
    for op in t.ops.iter().take(MAX_DRAWN_OPS) {
        lane.push(op.lane);
        f.push(op.f);
        key.push(op.key);
        start.push(us(op.start_ns));
        dur.push(op.end_ns.map(|e| us(e) - us(op.start_ns)).unwrap_or(-1));
        outcome.push(op.outcome as u8);
        token.push(op.token.map(|t| t as i64).unwrap_or(-1));
        process.push(op.process);
        inv.push(op.invoke_index);
        cmp.push(
            op.complete_index
                .map(|c| (c - op.invoke_index) as i64)
                .unwrap_or(-1),
        );
        let mut parts = Vec::new();
        if let Some(nd) = &op.node {
            parts.push(format!("node {nd}"));
        }
        if let Some(v) = &op.value {
            parts.push(format!("value {v}"));
        }
        if let Some(e) = &op.error {
            parts.push(format!("error: {e}"));
        }
        let x = if parts.is_empty() {
            0
        } else {
            let s = parts.join(" · ");
            let next = extras.len();
            *extra_ids.entry(s.clone()).or_insert_with(|| {
                extras.push(s);
                next
            })
        };
        extra.push(x);
    }
    let h = &t.holds;
    let holds = json!({
        "l": h.iter().map(|h| h.lane).collect::<Vec<_>>(),
        "g": h.iter().map(|h| h.grant).collect::<Vec<_>>(),
        "p": h.iter().map(|h| h.process).collect::<Vec<_>>(),
        "k": h.iter().map(|h| h.key).collect::<Vec<_>>(),
        "s": h.iter().map(|h| us(h.start_ns)).collect::<Vec<_>>(),
        "e": h.iter().map(|h| us(h.end_ns)).collect::<Vec<_>>(),
        "t": h.iter().map(|h| h.token.map(|t| t as i64).unwrap_or(-1)).collect::<Vec<_>>(),
        "c": h.iter().map(|h| u8::from(h.certain)).collect::<Vec<_>>(),
        "ld": h.iter().map(|h| u8::from(h.leadership)).collect::<Vec<_>>(),
    });
    let faults: Vec<Value> = t
        .windows
        .iter()
        .map(|w| {
            json!({
                "s": us(w.start_ns), "e": us(w.end_ns), "label": w.label, "detail": w.detail,
                "err": w.error, "instant": w.instant, "col": fault_colour(&w.label), "row": w.row,
            })
        })
        .collect();
    let anomalies: Vec<Value> = inp
        .report
        .as_ref()
        .map(|r| {
            r.anomalies
                .iter()
                .take(MAX_CARDS)
                .map(|a| json!({"kind": a.kind.as_str(), "ops": positions(&a.ops, by_index)}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "end": us(t.end_ns),
        "lanes": t.lanes.iter().map(|l| &l.processes).collect::<Vec<_>>(),
        "fs": t.fs,
        "fcol": t.fs.iter().map(|f| f_colour(f)).collect::<Vec<_>>(),
        "keys": t.keys,
        "outcomes": [Outcome::Ok.as_str(), Outcome::Fail.as_str(), Outcome::Info.as_str(), Outcome::Pending.as_str()],
        "ops": {"l": lane, "f": f, "k": key, "s": start, "d": dur, "o": outcome, "t": token, "p": process, "i": inv, "c": cmp, "x": extra},
        "extras": extras,
        "holds": holds,
        "faults": faults,
        "fault_rows": t.fault_rows(),
        "anomalies": anomalies,
    })
}

#[cfg(test)]
mod tests {
    use super::short_version;

    #[test]
    fn banner_versions_are_the_number_when_the_output_names_one() {
        assert_eq!(
            short_version("etcd Version: 3.4.23 Git SHA: Not provided Go Version: go1.19.8"),
            "3.4.23"
        );
        assert_eq!(
            short_version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc"),
            "7.0.15"
        );
        assert_eq!(
            short_version("some service, build 2026-11-26 from a long description"),
            "some service, build 2026-11-26 …"
        );
        assert_eq!(short_version("3.5.17"), "3.5.17");
    }
}
