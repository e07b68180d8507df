//! PNG charts of a run (plotters, bitmap backend): median step time per workload and framework
//! (log scale, IQR whiskers), and every peer's time over ferrograd's.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::framework::Framework;
use crate::report::{Report, Sweep};

/// System TTF fonts tried in order (as ferrograd-gw's plots).
const FONT_CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
];

fn register_font() -> Result<()> {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *FONT.get_or_init(|| {
        FONT_CANDIDATES.iter().any(|path| {
            std::fs::read(path).is_ok_and(|bytes| {
                // Registered fonts live for the rest of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    });
    if ok {
        Ok(())
    } else {
        bail!("no TTF font found (tried {})", FONT_CANDIDATES.join(", "))
    }
}

fn color(f: Framework) -> RGBColor {
    match f {
        Framework::Ferrograd => RGBColor(214, 39, 40),
        Framework::Bridge => RGBColor(255, 127, 14),
        Framework::Tch => RGBColor(148, 103, 189),
        Framework::TorchEager => RGBColor(31, 119, 180),
        Framework::TorchCompile => RGBColor(23, 190, 207),
        Framework::Jax => RGBColor(44, 160, 44),
    }
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the chart failed: {e}")
}

/// (workload index, framework, value, optional whisker (lo, hi)).
type Bar = (usize, Framework, f64, Option<(f64, f64)>);

/// One bar per (workload, framework): `value(workload index, framework)` or nothing.
struct Bars<'a> {
    title: &'a str,
    y_desc: &'a str,
    log: bool,
    bars: Vec<Bar>,
}

fn draw_bars(report: &Report, path: &Path, b: &Bars) -> Result<()> {
    let names: Vec<&str> = report.workloads.iter().map(|w| w.workload.name()).collect();
    let n = names.len().max(1) as f64;
    let fws: Vec<Framework> = Framework::ALL
        .into_iter()
        .filter(|f| b.bars.iter().any(|(_, g, _, _)| g == f))
        .collect();
    let width = 0.8 / fws.len().max(1) as f64;
    let hi = b
        .bars
        .iter()
        .map(|t| t.3.map_or(t.2, |w| w.1))
        .fold(0.0, f64::max)
        * 1.3;
    let lo = b.bars.iter().map(|t| t.2).fold(f64::INFINITY, f64::min) * 0.5;
    let (lo, hi) = if b.log {
        (lo.max(1e-3), hi.max(1e-2))
    } else {
        (0.0, hi.max(1.0))
    };
    let root = BitMapBackend::new(path, (1100, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .margin(20)
        .caption(b.title, ("sans-serif", 24))
        .x_label_area_size(40)
        .y_label_area_size(70);
    let xfmt = |x: &f64| {
        let i = x.floor() as usize;
        if (x.fract() - 0.5).abs() < 1e-6 {
            names.get(i).map_or(String::new(), |s| s.to_string())
        } else {
            String::new()
        }
    };
    macro_rules! body {
        ($chart:expr, $base:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(2 * names.len() + 1)
                .x_label_formatter(&xfmt)
                .y_desc(b.y_desc)
                .label_style(("sans-serif", 16))
                .axis_desc_style(("sans-serif", 18))
                .draw()
                .map_err(err)?;
            for &f in &fws {
                let j = fws.iter().position(|g| *g == f).unwrap_or(0) as f64;
                let c = color(f);
                let rects: Vec<_> = b
                    .bars
                    .iter()
                    .filter(|t| t.1 == f)
                    .map(|&(i, _, v, _)| {
                        let x0 = i as f64 + 0.1 + j * width;
                        Rectangle::new([(x0, $base), (x0 + width * 0.9, v)], c.filled())
                    })
                    .collect();
                chart
                    .draw_series(rects)
                    .map_err(err)?
                    .label(f.name())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled())
                    });
                let whiskers: Vec<_> = b
                    .bars
                    .iter()
                    .filter(|t| t.1 == f)
                    .filter_map(|&(i, _, _, w)| {
                        let xm = i as f64 + 0.1 + j * width + width * 0.45;
                        w.map(|(l, h)| {
                            PathElement::new(vec![(xm, l), (xm, h)], BLACK.stroke_width(2))
                        })
                    })
                    .collect();
                chart.draw_series(whiskers).map_err(err)?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 16))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
        }};
    }
    if b.log {
        let chart = builder
            .build_cartesian_2d(0.0..n, (lo..hi).log_scale())
            .map_err(err)?;
        body!(chart, lo);
    } else {
        let chart = builder.build_cartesian_2d(0.0..n, lo..hi).map_err(err)?;
        body!(chart, 0.0);
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Draws `<date>-step-ms.png` and `<date>-peer-over-ferrograd.png` into `dir`.
pub fn draw(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    register_font()?;
    let mut times = Vec::new();
    let mut ratios = Vec::new();
    for (i, w) in report.workloads.iter().enumerate() {
        let fg = w
            .results
            .iter()
            .find(|r| r.framework == Framework::Ferrograd)
            .and_then(|r| r.median_ms);
        for r in &w.results {
            if let Some(m) = r.median_ms {
                times.push((i, r.framework, m, r.q25_ms.zip(r.q75_ms)));
                if let (Some(f), true) = (fg, r.framework != Framework::Ferrograd) {
                    ratios.push((i, r.framework, m / f, None));
                }
            }
        }
    }
    let p1 = dir.join(format!("{}-step-ms.png", report.date));
    draw_bars(
        report,
        &p1,
        &Bars {
            title: "Median step time (ms, log scale; whiskers: IQR)",
            y_desc: "ms per step",
            log: true,
            bars: times,
        },
    )?;
    let p2 = dir.join(format!("{}-peer-over-ferrograd.png", report.date));
    draw_bars(
        report,
        &p2,
        &Bars {
            title: "Peer step time / ferrograd step time (above 1: ferrograd faster)",
            y_desc: "ratio",
            log: false,
            bars: ratios,
        },
    )?;
    let mut paths = vec![p1, p2];
    for sweep in &report.sweeps {
        let p3 = dir.join(format!(
            "{}-sweep-{}.png",
            report.date,
            sweep.workload.name()
        ));
        draw_sweep(sweep, &p3)?;
        paths.push(p3);
    }
    Ok(paths)
}

/// One line of the sweep chart: framework, threads, [(batch, µs per example)].
type SweepLine = (Framework, usize, Vec<(f64, f64)>);

/// `<date>-sweep-<workload>.png`: µs per example against batch size (both log), one line per
/// framework and thread count (solid: 2 threads, dashed: 1 thread).
fn draw_sweep(sweep: &Sweep, path: &Path) -> Result<()> {
    let mut lines: Vec<SweepLine> = Vec::new();
    for p in &sweep.points {
        for r in &p.report.results {
            let Some(m) = r.median_ms else { continue };
            let v = (p.batch as f64, m * 1e3 / p.batch as f64);
            match lines
                .iter_mut()
                .find(|l| l.0 == r.framework && l.1 == p.threads)
            {
                Some(l) => l.2.push(v),
                None => lines.push((r.framework, p.threads, vec![v])),
            }
        }
    }
    lines.sort_by_key(|l| {
        (
            Framework::ALL.iter().position(|f| *f == l.0),
            std::cmp::Reverse(l.1),
        )
    });
    let ys = lines.iter().flat_map(|l| l.2.iter().map(|v| v.1));
    let (lo, hi) = ys.fold((f64::INFINITY, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo * 0.7, hi * 1.5)
    } else {
        (0.1, 10.0)
    };
    let xs = lines.iter().flat_map(|l| l.2.iter().map(|v| v.0));
    let (xlo, xhi) = xs.fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    let (xlo, xhi) = if xlo.is_finite() && xhi > 0.0 {
        (xlo * 0.8, xhi * 1.25)
    } else {
        (0.8, 320.0)
    };
    let root = BitMapBackend::new(path, (1100, 680)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(20)
        .caption(
            format!(
                "{} model: µs per example vs batch size (log-log; solid 2 threads, dashed 1)",
                sweep.workload.name()
            ),
            ("sans-serif", 20),
        )
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((xlo..xhi).log_scale(), (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("batch size")
        .y_desc("µs per example (median step / batch)")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(err)?;
    for (f, threads, pts) in &lines {
        let c = color(*f);
        let label = format!("{} ({} thr)", f.name(), threads);
        let style = c.stroke_width(if *f == Framework::Ferrograd { 3 } else { 2 });
        if *threads > 1 {
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), style))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        } else {
            chart
                .draw_series(DashedLineSeries::new(pts.iter().copied(), 8, 5, style))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 6, y)], style));
        }
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
