//! Latency and throughput charts as inline SVG, drawn once when the report is
//! written: the browser gets a few `<path>` elements, not one per operation.
//!
//! Latency points are snapped to a 2-pixel grid per series (op type and
//! outcome), so a 100,000-op history yields at most a few thousand points
//! per series while every cell that held an op still shows one.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use super::html::escape;
use super::timeline::{NemesisWindow, Outcome, Timeline};

const WIDTH: f64 = 1200.0;
const HEIGHT: f64 = 250.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 30.0;
/// Throughput bins: one per second up to this many, wider beyond.
const MAX_BINS: i64 = 400;

/// Colour of an op type, shared with the timeline's script.
pub fn f_colour(f: &str) -> &'static str {
    match f {
        "acquire" => "#2563eb",
        "release" => "#059669",
        "renew" => "#0891b2",
        "write" => "#7c3aed",
        "read" => "#b45309",
        "campaign" => "#db2777",
        "resign" => "#65a30d",
        "observe" => "#475569",
        _ => "#64748b",
    }
}

/// Colour of a fault kind (its package's), shared with the timeline's
/// script; grey for a record no package owns.
pub fn fault_colour(label: &str) -> &'static str {
    crate::fault::entry_named(label).map_or("#94a3b8", |e| e.colour)
}

pub const OUTCOME_COLOURS: [(&str, &str); 3] =
    [("ok", "#16a34a"), ("fail", "#dc2626"), ("info", "#d97706")];

struct Frame {
    end_ns: i64,
}

impl Frame {
    fn x(&self, t_ns: i64) -> f64 {
        let span = self.end_ns.max(1) as f64;
        LEFT + (t_ns as f64 / span) * (WIDTH - LEFT - RIGHT)
    }

    fn open(&self, out: &mut String, title: &str, id: &str) {
        let _ = write!(
            out,
            r#"<svg id="{id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}" preserveAspectRatio="none"><text x="{LEFT}" y="14" class="chart-title">{title}</text>"#,
            title = escape(title)
        );
    }

    fn shading(&self, out: &mut String, windows: &[NemesisWindow]) {
        for w in windows {
            let x0 = self.x(w.start_ns);
            let colour = fault_colour(&w.label);
            let label = escape(&w.label);
            if w.instant {
                let _ = write!(
                    out,
                    r#"<line x1="{x0:.1}" x2="{x0:.1}" y1="{TOP}" y2="{y}" stroke="{colour}" stroke-dasharray="3 2"><title>{label}</title></line>"#,
                    y = HEIGHT - BOTTOM
                );
                continue;
            }
            let x1 = self.x(w.end_ns).max(x0 + 1.0);
            let opacity = if w.error.is_some() { 0.07 } else { 0.18 };
            let _ = write!(
                out,
                r#"<rect class="fault" x="{x0:.1}" y="{TOP}" width="{wd:.1}" height="{h:.1}" fill="{colour}" fill-opacity="{opacity}"><title>{label} {detail}</title></rect>"#,
                wd = x1 - x0,
                h = HEIGHT - TOP - BOTTOM,
                detail = escape(&w.detail),
            );
            if x1 - x0 > 30.0 {
                let _ = write!(
                    out,
                    r#"<text x="{tx:.1}" y="{ty}" class="fault-label" fill="{colour}">{label}</text>"#,
                    tx = x0 + 3.0,
                    ty = TOP + 11.0 + 11.0 * w.row as f64
                );
            }
        }
    }

    fn time_axis(&self, out: &mut String) {
        let y = HEIGHT - BOTTOM;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{y}" y2="{y}" stroke="#94a3b8"/>"##,
            x2 = WIDTH - RIGHT
        );
        let secs = self.end_ns as f64 / 1e9;
        let step = nice_step(secs, 10.0);
        let mut s = 0.0;
        while s <= secs + 1e-9 {
            let x = self.x((s * 1e9) as i64);
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{y}" y2="{y2}" stroke="#94a3b8"/><text x="{x:.1}" y="{ty}" class="tick" text-anchor="middle">{label}s</text>"##,
                y2 = y + 4.0,
                ty = y + 16.0,
                label = trim_float(s)
            );
            s += step;
        }
    }
}

/// A round step (1, 2 or 5 times a power of ten) giving about `ticks` ticks over `range`.
pub fn nice_step(range: f64, ticks: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / ticks;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm < 1.5 {
        1.0
    } else if norm < 3.5 {
        2.0
    } else if norm < 7.5 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Latency of each completed op against its invocation time, log scale.
pub fn latency_svg(t: &Timeline) -> String {
    let frame = Frame { end_ns: t.end_ns };
    let mut out = String::new();
    frame.open(
        &mut out,
        "Latency by op type and outcome (log scale)",
        "latency-chart",
    );
    frame.shading(&mut out, &t.windows);
    let lat_ms = |op: &super::timeline::TimedOp| {
        op.end_ns
            .map(|e| ((e - op.start_ns) as f64 / 1e6).max(0.001))
    };
    let max_ms = t.ops.iter().filter_map(lat_ms).fold(1.0f64, f64::max);
    let min_ms = t.ops.iter().filter_map(lat_ms).fold(max_ms, f64::min);
    let lo = 10f64.powf(min_ms.log10().floor()).max(0.001);
    let hi = 10f64.powf(max_ms.log10().ceil()).max(lo * 10.0);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y_of = |ms: f64| {
        TOP + plot_h - (ms.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) * plot_h
    };
    let mut decade = lo;
    while decade <= hi * 1.0001 {
        let y = y_of(decade);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#e2e8f0"/><text x="{tx}" y="{ty:.1}" class="tick" text-anchor="end">{label} ms</text>"##,
            x2 = WIDTH - RIGHT,
            tx = LEFT - 4.0,
            ty = y + 4.0,
            label = trim_float(decade)
        );
        decade *= 10.0;
    }
    frame.time_axis(&mut out);
    // (f, outcome) -> path data
    let mut series: BTreeMap<(u32, u8), String> = BTreeMap::new();
    let mut seen: HashSet<(u32, u8, i32, i32)> = HashSet::new();
    for op in &t.ops {
        let Some(ms) = lat_ms(op) else { continue };
        let outcome = match op.outcome {
            Outcome::Ok => 0u8,
            Outcome::Fail => 1,
            Outcome::Info | Outcome::Pending => 2,
        };
        let (x, y) = (frame.x(op.start_ns), y_of(ms));
        if !seen.insert((op.f, outcome, (x / 2.0) as i32, (y / 2.0) as i32)) {
            continue;
        }
        let d = series.entry((op.f, outcome)).or_default();
        let _ = match outcome {
            0 => write!(d, "M{:.1} {:.1}h0", x, y),
            1 => write!(d, "M{:.1} {:.1}l5 5m0 -5l-5 5", x - 2.5, y - 2.5),
            _ => write!(d, "M{:.1} {:.1}h5v5h-5z", x - 2.5, y - 2.5),
        };
    }
    for ((f, outcome), d) in &series {
        let colour = f_colour(&t.fs[*f as usize]);
        let style = match outcome {
            0 => {
                format!(r#"stroke="{colour}" stroke-width="4" stroke-linecap="round" fill="none""#)
            }
            1 => format!(r#"stroke="{colour}" stroke-width="1.5" fill="none""#),
            _ => format!(r#"stroke="{colour}" stroke-width="1.2" fill="white""#),
        };
        let _ = write!(
            out,
            r#"<path class="series" data-f="{f}" data-outcome="{o}" d="{d}" {style}/>"#,
            f = escape(&t.fs[*f as usize]),
            o = ["ok", "fail", "info"][usize::from(*outcome)]
        );
    }
    out.push_str("</svg>");
    out
}

/// Completions per bin (one second, or wider for long runs), stacked by outcome.
pub fn throughput_svg(t: &Timeline) -> String {
    let frame = Frame { end_ns: t.end_ns };
    let bin_s = ((t.end_ns / 1_000_000_000) / MAX_BINS + 1).max(1);
    let bin_ns = bin_s * 1_000_000_000;
    let bins = (t.end_ns / bin_ns + 1) as usize;
    let mut counts = vec![[0u64; 3]; bins];
    for op in &t.ops {
        let Some(e) = op.end_ns else { continue };
        let o = match op.outcome {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            _ => 2,
        };
        if let Some(c) = counts.get_mut((e / bin_ns) as usize) {
            c[o] += 1;
        }
    }
    let title = if bin_s == 1 {
        "Throughput: completions per second by outcome".to_string()
    } else {
        format!("Throughput: completions per {bin_s} s by outcome")
    };
    let mut out = String::new();
    frame.open(&mut out, &title, "throughput-chart");
    frame.shading(&mut out, &t.windows);
    let max = counts
        .iter()
        .map(|c| c.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let step = nice_step(max, 4.0).max(1.0);
    let top = (max / step).ceil() * step;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y_of = |v: f64| TOP + plot_h - v / top * plot_h;
    let mut v = 0.0;
    while v <= top + 1e-9 {
        let y = y_of(v);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#e2e8f0"/><text x="{tx}" y="{ty:.1}" class="tick" text-anchor="end">{label}</text>"##,
            x2 = WIDTH - RIGHT,
            tx = LEFT - 4.0,
            ty = y + 4.0,
            label = trim_float(v)
        );
        v += step;
    }
    frame.time_axis(&mut out);
    let mut paths = [String::new(), String::new(), String::new()];
    for (i, c) in counts.iter().enumerate() {
        let x0 = frame.x(i as i64 * bin_ns);
        let x1 = frame
            .x(((i as i64 + 1) * bin_ns).min(t.end_ns.max(1)))
            .max(x0 + 0.5);
        let w = (x1 - x0 - 0.5).max(0.5);
        let mut base = 0.0;
        for (o, path) in paths.iter_mut().enumerate() {
            if c[o] == 0 {
                continue;
            }
            let (ya, yb) = (y_of(base), y_of(base + c[o] as f64));
            let _ = write!(path, "M{x0:.1} {yb:.1}h{w:.1}V{ya:.1}h-{w:.1}z");
            base += c[o] as f64;
        }
    }
    for (o, d) in paths.iter().enumerate() {
        let (name, colour) = OUTCOME_COLOURS[o];
        let _ = write!(
            out,
            r#"<path class="bars" data-outcome="{name}" d="{d}" fill="{colour}"/>"#
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(10.0, 10.0), 1.0);
        assert_eq!(nice_step(95.0, 10.0), 10.0);
        assert_eq!(nice_step(27.0, 10.0), 2.0);
        assert_eq!(nice_step(0.0, 10.0), 1.0);
    }
}
