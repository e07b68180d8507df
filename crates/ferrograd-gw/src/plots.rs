//! The demo's PNG plots (plotters, bitmap backend): ROC curve, loss curves, efficiency vs
//! SNR, and one whitened strain segment with its injected chirp.
//!
//! Plotters draws text with a font registered at run time. The first of [`FONT_CANDIDATES`]
//! (or `$FERROGRAD_FONT`) that parses is used; without one the plots are drawn without text
//! (axes, curves and ticks only) rather than not at all.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{GwError, Result};
use crate::metrics::Metrics;
use crate::train::EpochLosses;

/// Width and height of every plot, in pixels.
pub const PLOT_SIZE: (u32, u32) = (960, 600);

/// System TTF fonts tried in order (Debian/Ubuntu, Arch, Fedora layouts of DejaVu Sans).
pub const FONT_CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
];

/// Registers a font once per process; whether text can be drawn.
fn have_font() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let env = std::env::var("FERROGRAD_FONT").ok();
        for path in env.iter().map(String::as_str).chain(FONT_CANDIDATES) {
            if let Ok(bytes) = std::fs::read(path) {
                // Registered fonts live for the rest of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

fn out_err(path: &Path, e: impl std::fmt::Display) -> GwError {
    GwError::Output {
        path: path.to_path_buf(),
        reason: format!("drawing the plot failed: {e}"),
    }
}

/// A chart builder with a caption and room for axis labels (when a font is available).
fn builder<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    caption: &str,
) -> ChartBuilder<'a, 'b, BitMapBackend<'b>> {
    let mut b = ChartBuilder::on(area);
    b.margin(20);
    if have_font() {
        b.caption(caption, ("sans-serif", 26))
            .x_label_area_size(50)
            .y_label_area_size(70);
    } else {
        b.x_label_area_size(10).y_label_area_size(10);
    }
    b
}

/// Draws the mesh with axis descriptions, or a bare grid without a font.
macro_rules! mesh {
    ($chart:expr, $xdesc:expr, $ydesc:expr $(, |$m:ident| $tweak:block)?) => {{
        let mut m = $chart.configure_mesh();
        if have_font() {
            $({
                let $m = &mut m;
                $tweak
            })?
            m.x_desc($xdesc)
                .y_desc($ydesc)
                .label_style(("sans-serif", 16))
                .axis_desc_style(("sans-serif", 18));
        } else {
            m.x_labels(0).y_labels(0);
        }
        m.draw()
    }};
}

/// Draws the legend when a font is available.
macro_rules! legend {
    ($chart:expr, $pos:expr) => {{
        if have_font() {
            $chart
                .configure_series_labels()
                .position($pos)
                .label_font(("sans-serif", 18))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
        } else {
            Ok(())
        }
    }};
}

fn color(i: usize) -> RGBColor {
    [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
    ][i % 3]
}

/// ROC curve on a logarithmic false-alarm axis, with the efficiency at each reported
/// false-alarm probability marked.
///
/// # Errors
/// [`GwError::Output`] if the PNG cannot be drawn or written.
pub fn plot_roc(path: &Path, m: &Metrics) -> Result<()> {
    let area = BitMapBackend::new(path, PLOT_SIZE).into_drawing_area();
    let lo = (0.5 / m.noise.max(1) as f64).min(1e-3);
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error + '_>> {
        area.fill(&WHITE)?;
        let title = format!(
            "ROC curve (AUC {:.4}, {} noise / {} signals)",
            m.auc, m.noise, m.signals
        );
        let mut c =
            builder(&area, &title).build_cartesian_2d((lo..1.0f64).log_scale(), 0.0..1.0f64)?;
        mesh!(c, "false-alarm probability", "detection efficiency")?;
        let pts: Vec<(f64, f64)> = m.roc.iter().copied().filter(|p| p.0 >= lo).collect();
        c.draw_series(LineSeries::new(pts, color(0).stroke_width(3)))?
            .label("classifier")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color(0).stroke_width(3)));
        c.draw_series(LineSeries::new(
            (0..=60).map(|i| {
                let f = lo * (1.0 / lo).powf(f64::from(i) / 60.0);
                (f, f)
            }),
            BLACK.mix(0.4),
        ))?
        .label("chance")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
        for (k, p) in m.faps.iter().enumerate() {
            let col = color(k + 1);
            c.draw_series(std::iter::once(Circle::new(
                (p.fap, p.efficiency),
                7,
                col.filled(),
            )))?
            .label(format!(
                "FAP {:.0e}: efficiency {:.1}%",
                p.fap,
                100.0 * p.efficiency
            ))
            .legend(move |(x, y)| Circle::new((x + 10, y), 6, col.filled()));
        }
        legend!(c, SeriesLabelPosition::LowerLeft)?;
        area.present()?;
        Ok(())
    };
    draw().map_err(|e| out_err(path, e))
}

/// Reads one loss of an epoch.
type Getter = fn(&EpochLosses) -> f64;

/// Training and test loss per epoch.
///
/// # Errors
/// [`GwError::Output`] if the PNG cannot be drawn or written.
pub fn plot_losses(path: &Path, history: &[EpochLosses]) -> Result<()> {
    let area = BitMapBackend::new(path, PLOT_SIZE).into_drawing_area();
    let top = history
        .iter()
        .flat_map(|h| [h.train_loss, h.test_loss])
        .filter(|v| v.is_finite())
        .fold(0.1f64, f64::max)
        * 1.1;
    let epochs = history.len().max(1) as f64;
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error + '_>> {
        area.fill(&WHITE)?;
        let mut c = builder(&area, "Cross-entropy loss per epoch")
            .build_cartesian_2d(0.5..epochs + 0.5, 0.0..top)?;
        let whole: &dyn Fn(&f64) -> String = &|v| format!("{v:.0}");
        mesh!(c, "epoch", "mean loss", |m| {
            m.x_labels(history.len().max(1)).x_label_formatter(whole);
        })?;
        let series: [(&str, Getter); 2] = [
            ("train (mean over the epoch)", |h| h.train_loss),
            ("test (end of epoch)", |h| h.test_loss),
        ];
        for (k, (name, get)) in series.into_iter().enumerate() {
            let col = color(k);
            let pts: Vec<(f64, f64)> = history
                .iter()
                .map(|h| ((h.epoch + 1) as f64, get(h)))
                .collect();
            c.draw_series(LineSeries::new(pts.clone(), col.stroke_width(3)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(3))
                });
            c.draw_series(pts.into_iter().map(|p| Circle::new(p, 5, col.filled())))?;
        }
        legend!(c, SeriesLabelPosition::UpperRight)?;
        area.present()?;
        Ok(())
    };
    draw().map_err(|e| out_err(path, e))
}

/// Detection efficiency per SNR bin at each reported false-alarm probability.
///
/// # Errors
/// [`GwError::Output`] if the PNG cannot be drawn or written.
pub fn plot_efficiency(path: &Path, m: &Metrics, snr_range: Range<f64>) -> Result<()> {
    let area = BitMapBackend::new(path, PLOT_SIZE).into_drawing_area();
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error + '_>> {
        area.fill(&WHITE)?;
        let mut c = builder(&area, "Detection efficiency vs injected SNR")
            .build_cartesian_2d(snr_range.clone(), 0.0..105.0f64)?;
        mesh!(c, "optimal SNR of the injection", "efficiency (%)")?;
        for (k, p) in m.faps.iter().enumerate() {
            let col = color(k);
            let pts: Vec<(f64, f64)> = m
                .snr_bins
                .iter()
                .filter_map(|b| Some((0.5 * (b.lo + b.hi), 100.0 * b.efficiency[k]?)))
                .collect();
            c.draw_series(LineSeries::new(pts.clone(), col.stroke_width(3)))?
                .label(format!("FAP {:.0e}", p.fap))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(3))
                });
            c.draw_series(pts.into_iter().map(|q| Circle::new(q, 5, col.filled())))?;
        }
        legend!(c, SeriesLabelPosition::LowerRight)?;
        area.present()?;
        Ok(())
    };
    draw().map_err(|e| out_err(path, e))
}

/// One whitened strain segment and the whitened injection inside it.
///
/// # Errors
/// [`GwError::Output`] if the PNG cannot be drawn or written.
pub fn plot_strain(
    path: &Path,
    strain: &[f32],
    injection: &[f32],
    sample_rate: f64,
    title: &str,
) -> Result<()> {
    let area = BitMapBackend::new(path, PLOT_SIZE).into_drawing_area();
    let peak = strain
        .iter()
        .chain(injection)
        .map(|v| f64::from(v.abs()))
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max)
        * 1.1;
    let secs = strain.len() as f64 / sample_rate;
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error + '_>> {
        area.fill(&WHITE)?;
        let mut c = builder(&area, title).build_cartesian_2d(0.0..secs, -peak..peak)?;
        mesh!(c, "time (s)", "whitened strain (noise σ ≈ 1)")?;
        let line = |v: &[f32]| -> Vec<(f64, f64)> {
            v.iter()
                .enumerate()
                .map(|(i, &s)| (i as f64 / sample_rate, f64::from(s)))
                .collect()
        };
        let grey = RGBColor(150, 150, 150);
        c.draw_series(LineSeries::new(line(strain), grey.stroke_width(1)))?
            .label("whitened strain (noise + chirp)")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(2))
            });
        c.draw_series(LineSeries::new(line(injection), color(1).stroke_width(2)))?
            .label("injected chirp (whitened)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color(1).stroke_width(2)));
        legend!(c, SeriesLabelPosition::UpperLeft)?;
        area.present()?;
        Ok(())
    };
    draw().map_err(|e| out_err(path, e))
}

/// The four plot files of a demo output directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlotFiles {
    pub roc: PathBuf,
    pub loss: PathBuf,
    pub efficiency: PathBuf,
    pub strain: PathBuf,
}

impl PlotFiles {
    /// `roc.png`, `loss.png`, `efficiency_snr.png` and `strain.png` in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        PlotFiles {
            roc: dir.join("roc.png"),
            loss: dir.join("loss.png"),
            efficiency: dir.join("efficiency_snr.png"),
            strain: dir.join("strain.png"),
        }
    }
}
