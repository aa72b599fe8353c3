//! One chart per migration measured under load, as inline SVG drawn by plotters: for each
//! statement the slowest read and write that overlapped it, against the budgets (dashed), its
//! number marked `(rewrite, lock)` where it rewrote a table or held a lock that keeps reads or
//! writes waiting. Read from `impact`'s JSON document, as the rest of the page.

use plotters::prelude::*;
use serde_json::Value;

use super::HtmlError;

const READ: RGBColor = RGBColor(0x09, 0x69, 0xda);
const WRITE: RGBColor = RGBColor(0x82, 0x50, 0xdf);
const BUDGET: RGBColor = RGBColor(0xcf, 0x22, 0x2e);
const MARK: RGBColor = RGBColor(0x1f, 0x23, 0x28);
/// The bottom of the scale: a wait shorter than this is drawn as this.
const FLOOR: f64 = 0.5;

/// The chart of every migration in the document, in its order.
pub(super) fn all(impact: &Value) -> Result<Vec<String>, HtmlError> {
    let budget = |key: &str| impact["budget"][key].as_f64().unwrap_or(0.0);
    let budgets = (budget("max_read_stall_ms"), budget("max_write_stall_ms"));
    impact["migrations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| one(m, budgets))
        .collect()
}

/// A bar series: its legend, colour, offset in a statement's slot, and value.
type Series = (&'static str, RGBColor, f64, fn(&Bar) -> f64);

/// A statement's figures, read from the document.
struct Bar {
    read: f64,
    write: f64,
    rewrote: bool,
    /// It held a lock that keeps reads or writes waiting.
    blocking: bool,
}

fn bars(m: &Value) -> Vec<Bar> {
    let statements = m["statements"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    statements
        .iter()
        .map(|s| {
            let locks = s["locks"].as_array().into_iter().flatten();
            Bar {
                read: s["worst_read_ms"].as_f64().unwrap_or(0.0),
                write: s["worst_write_ms"].as_f64().unwrap_or(0.0),
                rewrote: s["rewritten"].as_array().is_some_and(|r| !r.is_empty()),
                blocking: locks
                    .into_iter()
                    .any(|l| l["blocks_reads"] == true || l["blocks_writes"] == true),
            }
        })
        .collect()
}

/// What the chart says, for those who cannot see it.
fn description(m: &Value, bars: &[Bar], (read_budget, write_budget): (f64, f64)) -> String {
    let worst = |f: fn(&Bar) -> f64| bars.iter().map(f).fold(0.0, f64::max);
    format!(
        "{} {} {}: {} statement(s); slowest read {:.0} ms (budget {:.0} ms), slowest write {:.0} ms \
         (budget {:.0} ms); {} rewrote a table, {} held a lock that blocks reads or writes",
        m["backend"].as_str().unwrap_or_default(),
        m["file"].as_str().unwrap_or_default(),
        m["direction"].as_str().unwrap_or_default(),
        bars.len(),
        worst(|b| b.read),
        read_budget,
        worst(|b| b.write),
        write_budget,
        bars.iter().filter(|b| b.rewrote).count(),
        bars.iter().filter(|b| b.blocking).count(),
    )
}

fn one(m: &Value, budgets: (f64, f64)) -> Result<String, HtmlError> {
    let bars = bars(m);
    let (read_budget, write_budget) = budgets;
    let n = bars.len().max(1) as f64;
    // A logarithmic scale, so that a wait of a few milliseconds shows beside the budget; the
    // room above the highest value is the legend's.
    let top = bars
        .iter()
        .flat_map(|b| [b.read, b.write])
        .chain([read_budget, write_budget])
        .fold(1.0, f64::max)
        * 30.0;
    let failed = |e: &dyn std::fmt::Display| HtmlError::Chart(e.to_string());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..n, (FLOOR..top).log_scale())
            .map_err(|e| failed(&e))?;
        // A statement's number under the middle of its pair of bars, with its markers.
        let marks: Vec<String> = bars
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let words: Vec<&str> = [(b.rewrote, "rewrite"), (b.blocking, "lock")]
                    .into_iter()
                    .filter_map(|(on, word)| on.then_some(word))
                    .collect();
                match words.is_empty() {
                    true => format!("{}", i + 1),
                    false => format!("{} ({})", i + 1, words.join(", ")),
                }
            })
            .collect();
        let label = |x: &f64| {
            let slot = x - 0.5;
            match slot >= 0.0 && slot.fract() == 0.0 && slot < n {
                true => marks[slot as usize].clone(),
                false => String::new(),
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(2 * bars.len() + 1)
            .x_label_formatter(&label)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_desc("statement")
            .y_desc("slowest wait, ms")
            .draw()
            .map_err(|e| failed(&e))?;
        let series: [Series; 2] = [
            ("slowest read", READ, 0.12, |b: &Bar| b.read),
            ("slowest write", WRITE, 0.5, |b: &Bar| b.write),
        ];
        for (label, colour, offset, value) in series {
            chart
                .draw_series(bars.iter().enumerate().map(|(i, b)| {
                    let x = i as f64 + offset;
                    Rectangle::new(
                        [(x, FLOOR), (x + 0.36, value(b).max(FLOOR))],
                        colour.filled(),
                    )
                }))
                .map_err(|e| failed(&e))?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
                });
        }
        let mut budget_lines = vec![("read budget", read_budget)];
        if write_budget != read_budget {
            budget_lines.push(("write budget", write_budget));
        } else {
            budget_lines[0].0 = "budget";
        }
        for (label, at) in budget_lines {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, at), (n, at)],
                    6,
                    4,
                    BUDGET.stroke_width(2),
                ))
                .map_err(|e| failed(&e))?
                .label(label)
                .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BUDGET.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(MARK)
            .draw()
            .map_err(|e| failed(&e))?;
        root.present().map_err(|e| failed(&e))?;
    }
    let label = escape(&description(m, &bars, budgets));
    Ok(svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" "),
        1,
    ))
}

/// Text as an XML attribute value.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_chart_has_a_bar_per_statement_and_says_what_it_shows() {
        let doc = json!({
            "budget": {"max_read_stall_ms": 1000.0, "max_write_stall_ms": 500.0},
            "migrations": [{
                "backend": "postgres", "file": "0002_x.up.sql", "direction": "up",
                "statements": [
                    {"worst_read_ms": 3.0, "worst_write_ms": 1500.0, "rewritten": ["t"],
                     "locks": [{"blocks_reads": true, "blocks_writes": true}]},
                    {"worst_read_ms": 2.0, "worst_write_ms": 4.0, "rewritten": [], "locks": []}
                ]
            }]
        });
        let charts = all(&doc).unwrap();
        assert_eq!(charts.len(), 1);
        let svg = &charts[0];
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"postgres 0002_x.up.sql up: 2 statement(s); slowest read 3 ms (budget 1000 ms), slowest write 1500 ms (budget 500 ms); 1 rewrote"), "{svg}");
        assert!(svg.contains("\n1 (rewrite, lock)\n"), "{svg}");
        assert!(svg.contains("\n2\n"), "{svg}");
        assert!(svg.contains("write budget"), "{svg}");
    }
}
