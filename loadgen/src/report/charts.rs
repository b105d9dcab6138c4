//! Line charts for the HTML report, drawn by plotters into inline SVG (no script, no CDN), with the
//! stage boundaries marked and injected faults' windows shaded.
//!
//! A chart comes back as `Markup`, inserted unescaped: plotters' SVG backend escapes every text and
//! attribute value it writes, so titles and series names (request names, routes) arrive escaped.

use maud::{Markup, PreEscaped, html};
use plotters::prelude::*;

/// One line of a chart; None points are gaps (a second without requests).
pub struct Series {
    pub name: String,
    pub points: Vec<Option<f64>>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// What every chart of a run marks on its time axis (seconds since the start).
#[derive(Debug, Clone, Default)]
pub struct Marks {
    /// Stage boundaries: dashed lines.
    pub stages: Vec<f64>,
    /// Fault windows: shaded bands, each with its label at the top.
    pub bands: Vec<Band>,
}

#[derive(Debug, Clone)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub label: String,
}

impl Marks {
    /// The run's stage boundaries (after the first stage's start) and its faults' windows.
    pub fn of(r: &super::Results) -> Self {
        Self {
            stages: r
                .recorder
                .stages
                .iter()
                .skip(1)
                .map(|s| s.start_s)
                .collect(),
            bands: r
                .faults
                .iter()
                .flat_map(|f| &f.windows)
                .map(|w| Band {
                    from: w.start_s,
                    to: w.end_s,
                    label: w.spec.clone(),
                })
                .collect(),
        }
    }
}

const BAND_FILL: RGBColor = RGBColor(255, 140, 0);
const BAND_TEXT: RGBColor = RGBColor(170, 80, 0);

/// A chart of `series` against seconds 1..=n, with `marks` drawn behind the lines.
pub fn line_chart(title: &str, y_label: &str, series: &[Series], marks: &Marks) -> Markup {
    let mut svg = String::new();
    if let Err(e) = draw(&mut svg, title, y_label, series, marks) {
        return html! { p.note { "chart " (format!("{title:?}")) " could not be drawn: " (e) } };
    }
    PreEscaped(svg)
}

/// A chart in the report's frame. Inline SVG needs no namespace declaration in HTML, and the file
/// then names no URL at all.
pub fn framed(chart: &Markup) -> Markup {
    html! {
        div.chart { (PreEscaped(chart.0.replace(" xmlns=\"http://www.w3.org/2000/svg\"", ""))) }
    }
}

fn draw(
    svg: &mut String,
    title: &str,
    y_label: &str,
    series: &[Series],
    marks: &Marks,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = series
        .iter()
        .map(|s| s.points.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let root = SVGBackend::with_string(svg, (900, 300)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n as f64, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(y_label)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, band) in marks.bands.iter().enumerate() {
        // A restart can take a fraction of a second: at least a sliver stays visible.
        let to = band.to.max(band.from + n as f64 / 300.0);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(band.from, 0.0), (to, y_max)],
            BAND_FILL.mix(0.18).filled(),
        )))?;
        // Labels of nearby windows step down so that they do not overprint each other.
        let y = y_max * (0.97 - 0.08 * (i % 3) as f64);
        chart.draw_series(std::iter::once(Text::new(
            band.label.clone(),
            (band.from, y),
            ("sans-serif", 12).into_font().color(&BAND_TEXT),
        )))?;
    }
    for &mark in &marks.stages {
        chart.draw_series(DashedLineSeries::new(
            [(mark, 0.0), (mark, y_max)],
            6,
            4,
            RGBColor(120, 120, 120).stroke_width(1),
        ))?;
    }
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // Each unbroken run of points is its own line, so gaps stay gaps.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (t, p) in s.points.iter().enumerate() {
            match p {
                Some(v) => runs
                    .last_mut()
                    .map(|r| r.push((t as f64 + 1.0, *v)))
                    .unwrap_or(()),
                None => runs.push(Vec::new()),
            }
        }
        let mut first = true;
        for run in runs.into_iter().filter(|r| !r.is_empty()) {
            let drawn = chart.draw_series(LineSeries::new(run, color.stroke_width(2)))?;
            if first {
                drawn.label(s.name.clone()).legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                });
                first = false;
            }
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(RGBColor(200, 200, 200))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    drop(chart);
    drop(root);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_inline_svg() {
        let svg = line_chart(
            "RPS",
            "req/s",
            &[Series {
                name: "rps".into(),
                points: vec![Some(1.0), None, Some(3.0), Some(2.0)],
            }],
            &Marks {
                stages: vec![2.0],
                bands: vec![Band {
                    from: 1.0,
                    to: 2.5,
                    label: "redis-stop@1s+1.5s".into(),
                }],
            },
        )
        .into_string();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(
            svg.contains("<polyline") || svg.contains("<path"),
            "lines drawn"
        );
        assert!(!svg.contains("http://") || svg.contains("http://www.w3.org/2000/svg"));
        assert!(svg.contains("redis-stop@1s+1.5s"), "the band's label");
        assert!(svg.contains("<rect"), "the band");
    }
}
