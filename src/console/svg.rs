//! Charts drawn on the server as inline SVG: nothing for the browser to fetch or run.
//! Every text that reaches the markup is escaped here.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Series colours, in legend order (a colour-blind-safe palette).
const PALETTE: [&str; 8] = [
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#999999",
];

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `HH:MM` (UTC) of a Unix time in ms.
fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, secs / 60 % 60)
}

/// Stacked bars over time, one bar per point, one colour per key (the first
/// `PALETTE.len() - 1` keys by total; the rest summed as "other").
pub fn stacked_bars(title: &str, points: &[(i64, BTreeMap<String, f64>)]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 200.0;
    const LEFT: f64 = 44.0;
    const BOTTOM: f64 = 22.0;
    let mut totals: BTreeMap<&str, f64> = BTreeMap::new();
    for (_, m) in points {
        for (k, v) in m {
            *totals.entry(k).or_default() += v;
        }
    }
    let mut keys: Vec<(&str, f64)> = totals.into_iter().filter(|(_, v)| *v > 0.0).collect();
    keys.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let shown: Vec<&str> = keys
        .iter()
        .take(PALETTE.len() - 1)
        .map(|(k, _)| *k)
        .collect();
    let other = keys.len() > shown.len();
    let stack = |m: &BTreeMap<String, f64>| -> Vec<f64> {
        let mut v: Vec<f64> = shown
            .iter()
            .map(|k| m.get(*k).copied().unwrap_or(0.0))
            .collect();
        if other {
            v.push(
                m.iter()
                    .filter(|(k, _)| !shown.contains(&k.as_str()))
                    .map(|(_, v)| v)
                    .sum(),
            );
        }
        v
    };
    let max = points
        .iter()
        .map(|(_, m)| stack(m).iter().sum::<f64>())
        .fold(0.0, f64::max);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {}" role="img" aria-label="{}" class="chart">"#,
        H + BOTTOM + 24.0,
        escape(title)
    );
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{H}" x2="{W}" y2="{H}" stroke="#8a94a6"/><text x="{}" y="12" font-size="11" text-anchor="end" fill="#5a6472">{}</text><text x="{}" y="{H}" font-size="11" text-anchor="end" fill="#5a6472">0</text>"##,
        LEFT - 4.0,
        fmt_count(max),
        LEFT - 4.0,
    );
    if max <= 0.0 || points.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="13" text-anchor="middle" fill="#5a6472">nothing counted yet</text>"##,
            (LEFT + W) / 2.0,
            H / 2.0
        );
    } else {
        // Room for four minutes of bars at first, so a young history does not draw a
        // few bars as wide as the chart; later bars narrow as the hour fills.
        let step = (W - LEFT) / points.len().max(24) as f64;
        let bar = (step * 0.8).max(1.0);
        for (i, (at, m)) in points.iter().enumerate() {
            let x = LEFT + i as f64 * step + (step - bar) / 2.0;
            let mut y = H;
            for (k, v) in stack(m).iter().enumerate() {
                if *v <= 0.0 {
                    continue;
                }
                let h = v / max * (H - 16.0);
                y -= h;
                let _ = write!(
                    svg,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                    PALETTE[k.min(PALETTE.len() - 1)],
                    clock(*at),
                    escape(shown.get(k).copied().unwrap_or("other")),
                    fmt_count(*v)
                );
            }
        }
        if let (Some((first, _)), Some((last, _))) = (points.first(), points.last()) {
            let _ = write!(
                svg,
                r##"<text x="{LEFT}" y="{}" font-size="11" fill="#5a6472">{} UTC</text>"##,
                H + 14.0,
                clock(*first),
            );
            // The last bar's time, where it does not run into the first's.
            let last_x = LEFT + points.len() as f64 * step;
            if last_x - LEFT > 120.0 {
                let _ = write!(
                    svg,
                    r##"<text x="{last_x:.1}" y="{}" font-size="11" text-anchor="end" fill="#5a6472">{}</text>"##,
                    H + 14.0,
                    clock(*last)
                );
            }
        }
    }
    let mut x = LEFT;
    let legend = shown
        .iter()
        .copied()
        .chain(other.then_some("other"))
        .enumerate();
    for (i, name) in legend {
        let _ = write!(
            svg,
            r##"<rect x="{x:.0}" y="{}" width="10" height="10" fill="{}"/><text x="{:.0}" y="{}" font-size="12" fill="#1c2330">{}</text>"##,
            H + BOTTOM + 8.0,
            PALETTE[i],
            x + 14.0,
            H + BOTTOM + 17.0,
            escape(name)
        );
        x += 24.0 + 7.0 * name.chars().count() as f64;
    }
    svg.push_str("</svg>");
    svg
}

/// A grid of nodes (rows) by slots (columns): each cell's shade is its load against
/// the node's cap, with the count written in.
pub struct Grid<'a> {
    pub columns: Vec<String>,
    /// (row name, cap, count per column).
    pub rows: Vec<(&'a str, u32, Vec<i64>)>,
}

pub fn load_grid(title: &str, g: &Grid<'_>) -> String {
    const CELL: f64 = 46.0;
    const ROW: f64 = 26.0;
    const LEFT: f64 = 150.0;
    const TOP: f64 = 22.0;
    let w = LEFT + CELL * g.columns.len() as f64 + 4.0;
    let h = TOP + ROW * g.rows.len() as f64 + 4.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" role="img" aria-label="{}" class="grid">"#,
        escape(title)
    );
    for (c, name) in g.columns.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="14" font-size="11" text-anchor="middle" fill="#5a6472">{}</text>"##,
            LEFT + CELL * (c as f64 + 0.5),
            escape(name)
        );
    }
    for (r, (name, cap, counts)) in g.rows.iter().enumerate() {
        let y = TOP + ROW * r as f64;
        let _ = write!(
            svg,
            r##"<text x="{}" y="{:.1}" font-size="12" text-anchor="end" fill="#1c2330">{} (cap {cap})</text>"##,
            LEFT - 6.0,
            y + ROW * 0.65,
            escape(name)
        );
        for (c, n) in counts.iter().enumerate() {
            let share = if *cap == 0 {
                0.0
            } else {
                (*n as f64 / f64::from(*cap)).min(1.0)
            };
            let fill = if *n as f64 >= f64::from(*cap) && *n > 0 {
                "#d55e00".to_string()
            } else {
                // From near white to the palette's blue as the slot fills.
                let l = 96.0 - share * 50.0;
                format!("hsl(205,70%,{l:.0}%)")
            };
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="#fff"><title>{}: {n}/{cap}</title></rect><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="{}">{n}</text>"##,
                LEFT + CELL * c as f64,
                CELL - 2.0,
                ROW - 2.0,
                escape(name),
                LEFT + CELL * (c as f64 + 0.5),
                y + ROW * 0.65,
                if share > 0.6 { "#fff" } else { "#1c2330" },
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn fmt_count(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_escape_names_and_draw_one_rect_per_nonzero_value() {
        let points = vec![
            (
                0,
                BTreeMap::from([("<x>".to_string(), 2.0), ("b".into(), 0.0)]),
            ),
            (
                10_000,
                BTreeMap::from([("<x>".to_string(), 1.0), ("b".into(), 3.0)]),
            ),
        ];
        let svg = stacked_bars("t", &points);
        assert!(svg.contains("&lt;x&gt;") && !svg.contains("<x>"));
        assert_eq!(
            svg.matches("<rect").count(),
            3 + 2,
            "3 bars and 2 legend keys"
        );
    }

    #[test]
    fn an_empty_chart_says_so() {
        assert!(stacked_bars("t", &[]).contains("nothing counted yet"));
    }

    #[test]
    fn a_full_cell_stands_out() {
        let g = Grid {
            columns: vec!["00:00".into(), "01:00".into()],
            rows: vec![("node-a", 2, vec![2, 1])],
        };
        let svg = load_grid("load", &g);
        assert_eq!(svg.matches("#d55e00").count(), 1);
        assert!(svg.contains("node-a (cap 2)"));
    }
}
