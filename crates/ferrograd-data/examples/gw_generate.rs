//! Generates a GW data set and reports the generation rate and the per-class statistics.
//!
//! `cargo run --release -p ferrograd-data --example gw_generate -- [N] [SEED]`
//! (defaults: 2000 examples, seed 0). With `--csv PATH` / `--png PATH` also writes the first
//! signal example (time (s), whitened strain, noise-free injection) as CSV / as a plot.

use std::time::Instant;

use ferrograd_data::gw::ChirpParams;
use ferrograd_data::{generate, generate_parallel, DataError, GwConfig, GwDataset, GwGenerator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let (mut csv, mut png) = (None, None);
    while let Some(a) = args.next() {
        if a == "--csv" {
            csv = Some(args.next().ok_or("--csv needs a path")?);
        } else if a == "--png" {
            png = Some(args.next().ok_or("--png needs a path")?);
        } else {
            positional.push(a);
        }
    }
    let n: usize = positional.first().map_or(Ok(2000), |s| s.parse())?;
    let seed: u64 = positional.get(1).map_or(Ok(0), |s| s.parse())?;
    let cfg = GwConfig {
        seed,
        ..GwConfig::default()
    };

    let start = Instant::now();
    let data = generate(&cfg, n)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "generated {n} examples of {} samples in {secs:.3} s: {:.0} examples/s (one thread)",
        cfg.n_samples,
        n as f64 / secs
    );
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let start = Instant::now();
    let parallel = generate_parallel(&cfg, n, threads)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "generated {n} examples in {secs:.3} s: {:.0} examples/s ({threads} threads, identical: {})",
        n as f64 / secs,
        parallel == data
    );
    for label in [0u8, 1] {
        let rows: Vec<&[f32]> = (0..data.len())
            .filter(|&i| data.y[i] == label)
            .filter_map(|i| data.example(i))
            .collect();
        let count = rows.len().max(1) as f64;
        let energy = rows
            .iter()
            .map(|r| r.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>())
            .sum::<f64>()
            / count;
        println!(
            "label {label}: {} examples, mean energy {energy:.1}",
            rows.len()
        );
    }

    if csv.is_some() || png.is_some() {
        let (params, x, injection) = first_signal(&cfg, &data)?;
        if let Some(path) = csv {
            write_csv(&cfg, &params, &x, &injection, &path)?;
            println!("wrote {path}");
        }
        if let Some(path) = png {
            write_png(&cfg, &params, &x, &injection, &path)?;
            println!("wrote {path}");
        }
    }
    Ok(())
}

type Example = (ChirpParams, Vec<f32>, Vec<f32>);

/// The first signal example and its noise-free injection.
fn first_signal(cfg: &GwConfig, data: &GwDataset) -> Result<Example, Box<dyn std::error::Error>> {
    let (i, params) = data
        .meta
        .iter()
        .enumerate()
        .find_map(|(i, m)| m.chirp.map(|c| (i, c)))
        .ok_or("no signal example")?;
    let mut gen = GwGenerator::new(cfg.clone())?;
    let mut injection = vec![0.0f32; cfg.n_samples];
    gen.injection_into(&params, &mut injection)?;
    let x = data.example(i).ok_or(DataError::BadLength {
        what: "data set",
        expected: i + 1,
        found: data.len(),
    })?;
    Ok((params, x.to_vec(), injection))
}

fn write_csv(
    cfg: &GwConfig,
    params: &ChirpParams,
    x: &[f32],
    injection: &[f32],
    path: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::fmt::Write as _;
    let mut out = format!("# {params:?}\ntime_s,whitened,injection\n");
    for (j, (&v, &s)) in x.iter().zip(injection).enumerate() {
        writeln!(out, "{},{v},{s}", j as f64 / cfg.sample_rate)?;
    }
    std::fs::write(path, out)?;
    Ok(())
}

fn write_png(
    cfg: &GwConfig,
    params: &ChirpParams,
    x: &[f32],
    injection: &[f32],
    path: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    register_a_font()?;
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let lim = x.iter().fold(0.0f32, |m, v| m.max(v.abs())) * 1.05;
    let t_end = cfg.n_samples as f64 / cfg.sample_rate;
    let caption = format!(
        "whitened strain: chirp mass {:.1} Msun, q {:.2}, SNR {:.1}, merger at {:.3} s",
        params.chirp_mass, params.mass_ratio, params.snr, params.merger_time
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..t_end, f64::from(-lim)..f64::from(lim))?;
    chart
        .configure_mesh()
        .x_desc("time [s]")
        .y_desc("whitened strain")
        .draw()?;
    let series = |v: &[f32]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(j, &s)| (j as f64 / cfg.sample_rate, f64::from(s)))
            .collect()
    };
    chart
        .draw_series(LineSeries::new(series(x), RGBColor(150, 150, 150)))?
        .label("data (noise + injection)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(150, 150, 150)));
    chart
        .draw_series(LineSeries::new(series(injection), RED.stroke_width(2)))?
        .label("injection (noise-free)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Plotters draws text with a font registered at run time; use a common system TTF.
fn register_a_font() -> Result<(), Box<dyn std::error::Error>> {
    const CANDIDATES: [&str; 3] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ];
    for path in CANDIDATES {
        if let Ok(bytes) = std::fs::read(path) {
            // The font must live for the rest of the program.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font(
                "sans-serif",
                plotters::style::FontStyle::Normal,
                bytes,
            )
            .is_ok()
            {
                return Ok(());
            }
        }
    }
    Err(format!(
        "no usable font for the PNG (looked for {CANDIDATES:?}; e.g. apt-get install fonts-dejavu-core); \
         use --csv instead"
    )
    .into())
}
