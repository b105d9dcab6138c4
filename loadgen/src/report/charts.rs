//! Line charts for the HTML report, drawn by plotters into inline SVG (no script, no CDN), with the
//! stage boundaries marked.

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

/// A chart of `series` against seconds 1..=n, with dashed lines at `stage_marks` (seconds).
pub fn line_chart(title: &str, y_label: &str, series: &[Series], stage_marks: &[f64]) -> String {
    let mut svg = String::new();
    if let Err(e) = draw(&mut svg, title, y_label, series, stage_marks) {
        return format!("<p class=\"note\">chart {title:?} could not be drawn: {e}</p>");
    }
    svg
}

fn draw(
    svg: &mut String,
    title: &str,
    y_label: &str,
    series: &[Series],
    stage_marks: &[f64],
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
    for &mark in stage_marks {
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
            &[2.0],
        );
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(
            svg.contains("<polyline") || svg.contains("<path"),
            "lines drawn"
        );
        assert!(!svg.contains("http://") || svg.contains("http://www.w3.org/2000/svg"));
    }
}
