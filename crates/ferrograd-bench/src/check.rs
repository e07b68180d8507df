//! `check-report`: is a report complete and well-formed? (What CI can check of a `--quick`
//! run: not the speed.)

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::framework::Framework;
use crate::workload::Workload;

/// Every problem found in the report at `json` (and the Markdown and charts next to it).
pub fn check_report(json: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(json).with_context(|| format!("reading {}", json.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", json.display()))?;
    let mut problems = check_value(&v);
    let date = v["date"].as_str().unwrap_or("");
    let dir = json.parent().unwrap_or(Path::new("."));
    for f in [
        format!("{date}.md"),
        format!("{date}-step-ms.png"),
        format!("{date}-peer-over-ferrograd.png"),
    ] {
        if !dir.join(&f).is_file() {
            problems.push(format!("missing {f}"));
        }
    }
    // Reports before W4 had one `sweep` (W1a's) and `<date>-sweep.png`.
    let mut charts = Vec::new();
    if !v["sweep"].is_null() {
        charts.push(format!("{date}-sweep.png"));
    }
    for s in v["sweeps"].as_array().into_iter().flatten() {
        charts.push(format!(
            "{date}-sweep-{}.png",
            s["workload"].as_str().unwrap_or("?")
        ));
    }
    for chart in charts {
        if !dir.join(&chart).is_file() {
            problems.push(format!("missing {chart}"));
        }
    }
    Ok(problems)
}

/// One framework's result (`r`) at `at`: `ok` with ordered positive quantiles, timed steps, a
/// peak RSS, agreement within `tol` and, for the Rust workers (`f.is_rust()`), heap
/// allocations per step; or `unavailable: <reason>`.
fn check_result(r: &Value, f: Framework, at: &str, tol: f64, p: &mut Vec<String>) {
    match r["status"].as_str() {
        Some("ok") => {
            let q = |k: &str| r[k].as_f64().filter(|x| x.is_finite() && *x > 0.0);
            match (q("q25_ms"), q("median_ms"), q("q75_ms")) {
                (Some(a), Some(b), Some(c)) if a <= b && b <= c => {}
                _ => p.push(format!("{at}: quantiles missing or out of order")),
            }
            if q("peak_rss_mib").is_none() {
                p.push(format!("{at}: no peak RSS"));
            }
            if r["steps"].as_u64().unwrap_or(0) == 0 {
                p.push(format!("{at}: no timed steps"));
            }
            if !r["max_rel_diff"].as_f64().is_some_and(|d| d <= tol) {
                p.push(format!("{at}: agreement missing or beyond {tol:e}"));
            }
            let allocs = r["allocs_per_step"].as_f64();
            if f.is_rust() && !allocs.is_some_and(|a| a.is_finite() && a >= 0.0) {
                p.push(format!("{at}: no heap allocations per step"));
            }
        }
        Some(why) if why.starts_with("unavailable: ") => {}
        Some(why) => p.push(format!("{at}: {why}")),
        None => p.push(format!("{at}: no status")),
    }
}

/// A sweep section: every batch size x thread count of the sweep, each with every
/// framework's result as in the main table (and µs per example for the timed ones).
pub fn check_sweep(sweep: &Value) -> Vec<String> {
    let mut p = Vec::new();
    // Messages name the workload when the sweep does (reports since W4 sweep several).
    let name = sweep["workload"]
        .as_str()
        .map_or_else(String::new, |w| format!(" {w}"));
    let Some(points) = sweep["points"].as_array() else {
        return vec![format!("sweep{name}: no points")];
    };
    let tol = sweep["tolerance"].as_f64().unwrap_or(0.0);
    for threads in crate::run::SWEEP_THREADS {
        for batch in crate::run::SWEEP_BATCHES {
            let here = format!("sweep{name} batch {batch} threads {threads}");
            let Some(pt) = points
                .iter()
                .find(|x| x["batch"] == batch && x["threads"] == threads)
            else {
                p.push(format!("{here}: missing"));
                continue;
            };
            let results = pt["results"].as_array().cloned().unwrap_or_default();
            for f in Framework::ALL {
                let at = format!("{here} {}", f.name());
                let Some(r) = results.iter().find(|x| x["framework"] == f.name()) else {
                    p.push(format!("{at}: missing"));
                    continue;
                };
                check_result(r, f, &at, tol, &mut p);
                if r["status"] == "ok" && !r["us_per_example"].as_f64().is_some_and(|u| u > 0.0) {
                    p.push(format!("{at}: no µs per example"));
                }
            }
        }
    }
    p
}

/// The checks on the JSON itself: every workload and framework present; each framework either
/// `ok` with agreement within tolerance, positive quantiles and a peak RSS, or a stated reason.
pub fn check_value(v: &Value) -> Vec<String> {
    let mut p = Vec::new();
    if !v["sgemm_peak_gflops"].as_f64().is_some_and(|g| g > 0.0) {
        p.push("no sgemm peak".into());
    }
    let Some(workloads) = v["workloads"].as_array() else {
        p.push("no workloads".into());
        return p;
    };
    for w in Workload::ALL {
        let Some(wv) = workloads.iter().find(|x| x["workload"] == w.name()) else {
            p.push(format!("workload {} missing", w.name()));
            continue;
        };
        let results = wv["results"].as_array().cloned().unwrap_or_default();
        for f in Framework::ALL {
            let at = format!("{} {}", w.name(), f.name());
            let Some(r) = results.iter().find(|x| x["framework"] == f.name()) else {
                p.push(format!("{at}: missing"));
                continue;
            };
            let tol = wv["tolerance"].as_f64().unwrap_or(0.0);
            check_result(r, f, &at, tol, &mut p);
        }
    }
    if !v["sweep"].is_null() {
        p.extend(check_sweep(&v["sweep"]));
    }
    if !v["sweeps"].is_null() {
        match v["sweeps"].as_array() {
            Some(sweeps) if !sweeps.is_empty() => {
                for s in sweeps {
                    p.extend(check_sweep(s));
                }
            }
            _ => p.push("sweeps: not a non-empty list".into()),
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the workers report: a count from the Rust ones, none from Python's.
    fn allocs(f: Framework) -> Value {
        if f.is_rust() {
            json!(12.5)
        } else {
            Value::Null
        }
    }

    fn complete() -> Value {
        let results: Vec<Value> = Framework::ALL
            .iter()
            .map(|f| {
                json!({"framework": f.name(), "status": "ok", "steps": 30, "q25_ms": 1.0,
                       "median_ms": 1.5, "q75_ms": 2.0, "peak_rss_mib": 100.0, "max_rel_diff": 0.0,
                       "allocs_per_step": allocs(*f)})
            })
            .collect();
        let workloads: Vec<Value> = Workload::ALL
            .iter()
            .map(|w| json!({"workload": w.name(), "tolerance": w.tolerance(), "results": results}))
            .collect();
        json!({"sgemm_peak_gflops": 50.0, "workloads": workloads})
    }

    fn sweep() -> Value {
        let mut points = Vec::new();
        for threads in crate::run::SWEEP_THREADS {
            for batch in crate::run::SWEEP_BATCHES {
                let results: Vec<Value> = Framework::ALL
                    .iter()
                    .map(|f| {
                        json!({"framework": f.name(), "status": "ok", "steps": 30, "q25_ms": 1.0,
                               "median_ms": 1.5, "q75_ms": 2.0, "peak_rss_mib": 100.0,
                               "max_rel_diff": 0.0, "us_per_example": 1500.0 / batch as f64,
                               "allocs_per_step": allocs(*f)})
                    })
                    .collect();
                points.push(json!({"batch": batch, "threads": threads, "results": results}));
            }
        }
        json!({"tolerance": 1e-4, "points": points})
    }

    #[test]
    fn the_sweep_is_checked_when_present() {
        let mut v = complete();
        v["sweep"] = sweep();
        assert_eq!(check_value(&v), Vec::<String>::new());
        // A missing setting, a disagreeing framework, a framework without time per example.
        if let Some(points) = v["sweep"]["points"].as_array_mut() {
            points.remove(7);
        }
        v["sweep"]["points"][0]["results"][2]["max_rel_diff"] = json!(1e-2);
        v["sweep"]["points"][1]["results"][5]["us_per_example"] = Value::Null;
        v["sweep"]["points"][2]["results"][4]["status"] = json!("unavailable: no compiler");
        v["sweep"]["points"][2]["results"][4]["us_per_example"] = Value::Null;
        let p = check_value(&v);
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(
            p.iter().any(|m| m == "sweep batch 256 threads 2: missing"),
            "{p:#?}"
        );
        // Without a sweep (--quick), nothing is asked of it.
        assert!(check_value(&complete()).is_empty());
    }

    #[test]
    fn every_sweep_of_a_multi_workload_report_is_checked() {
        let mut v = complete();
        let mut w1a = sweep();
        w1a["workload"] = json!("W1a");
        let mut w4 = sweep();
        w4["workload"] = json!("W4");
        v["sweeps"] = json!([w1a, w4]);
        assert_eq!(check_value(&v), Vec::<String>::new());
        if let Some(points) = v["sweeps"][1]["points"].as_array_mut() {
            points.remove(0);
        }
        v["sweeps"][0]["points"][3]["results"][1]["status"] = json!("crashed");
        let p = check_value(&v);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(
            p.contains(&"sweep W4 batch 1 threads 1: missing".to_string()),
            "{p:#?}"
        );
        assert!(
            p.contains(&"sweep W1a batch 256 threads 1 ferrograd-torch: crashed".to_string()),
            "{p:#?}"
        );
        v["sweeps"] = json!([]);
        assert_eq!(
            check_value(&v),
            vec!["sweeps: not a non-empty list".to_string()]
        );
    }

    #[test]
    fn a_complete_report_passes() {
        assert_eq!(check_value(&complete()), Vec::<String>::new());
    }

    #[test]
    fn unavailable_with_a_reason_passes_but_failures_and_gaps_do_not() {
        let mut v = complete();
        v["workloads"][0]["results"][3]["status"] = json!("unavailable: no C++ compiler");
        assert!(check_value(&v).is_empty());
        v["workloads"][1]["results"][4]["status"] = json!("disagrees: 1e-2 > 1e-4");
        v["workloads"][2]["results"][0]["max_rel_diff"] = json!(1.0);
        v["workloads"][3]["results"][1]["median_ms"] = Value::Null;
        v["workloads"][4]["results"] = json!([]);
        let p = check_value(&v);
        assert_eq!(p.len(), 3 + Framework::ALL.len(), "{p:#?}");
    }

    #[test]
    fn the_rust_workers_must_report_heap_allocations() {
        let mut v = complete();
        let w3 = &mut v["workloads"][3]["results"];
        for r in w3.as_array_mut().unwrap() {
            r["allocs_per_step"] = Value::Null;
        }
        let p = check_value(&v);
        let rust: Vec<_> = Framework::ALL.into_iter().filter(|f| f.is_rust()).collect();
        assert_eq!(p.len(), rust.len(), "{p:#?}");
        for f in rust {
            assert!(
                p.iter()
                    .any(|m| m.ends_with(&format!(" {}: no heap allocations per step", f.name()))),
                "{p:#?}"
            );
        }
        // A count of zero is a count.
        let mut v = complete();
        v["workloads"][0]["results"][0]["allocs_per_step"] = json!(0.0);
        assert!(check_value(&v).is_empty());
    }

    #[test]
    fn bridge_rows_are_checked_too() {
        let bridge = Framework::Bridge.name();
        // A report without the bridge (as before it joined the suite) is incomplete.
        let mut v = complete();
        for w in v["workloads"].as_array_mut().into_iter().flatten() {
            if let Some(rs) = w["results"].as_array_mut() {
                rs.retain(|r| r["framework"] != bridge);
            }
        }
        let p = check_value(&v);
        assert_eq!(p.len(), Workload::ALL.len(), "{p:#?}");
        assert!(
            p.iter().all(|m| m.ends_with("ferrograd-torch: missing")),
            "{p:#?}"
        );
        // Its W3 rows may be unavailable with the reason; a bridge row that disagrees fails.
        let mut v = complete();
        let why = format!("unavailable: {}", crate::worker::BRIDGE_NO_W3);
        v["workloads"][3]["results"][1]["status"] = json!(why);
        v["workloads"][4]["results"][1]["status"] = json!(why);
        assert!(check_value(&v).is_empty());
        v["workloads"][0]["results"][1]["max_rel_diff"] = json!(1e-3);
        assert_eq!(check_value(&v).len(), 1);
    }

    #[test]
    fn the_bridge_is_not_started_for_w3() {
        let launch = crate::framework::Launch {
            torch_python: std::path::Path::new("python"),
            jax_python: None,
            workers_dir: std::path::Path::new("."),
        };
        let data = std::path::Path::new(".");
        for w in [Workload::W3Grad, Workload::W3Hess, Workload::W3Grad1M] {
            match Framework::Bridge.command(&launch, w.name(), data) {
                Err(why) => assert!(why.starts_with("unavailable: "), "{why}"),
                Ok(_) => panic!("bridge started for {}", w.name()),
            }
        }
        assert!(Framework::Bridge.command(&launch, "W1a", data).is_ok());
    }

    #[test]
    fn relative_difference_has_a_floor_for_cancelling_components() {
        let r = crate::run::max_rel_diff(&[1.0, 1e-9], &[1.0, 0.0]);
        assert!(r < 1e-6, "{r}");
        assert!(crate::run::max_rel_diff(&[1.1], &[1.0]) > 0.09);
        assert!(crate::run::max_rel_diff(&[f64::NAN], &[1.0]).is_infinite());
        assert!(crate::run::max_rel_diff(&[1.0], &[1.0, 2.0]).is_infinite());
    }
}
