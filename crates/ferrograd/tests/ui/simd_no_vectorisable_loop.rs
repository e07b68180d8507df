use ferrograd::differentiable;

// `simd` on a function none of whose loops can run on SIMD lanes: a compile error that says
// why for each loop, rather than a quietly scalar function.
#[differentiable(simd)]
fn f(a: f64, x: &[f64]) -> f64 {
    let mut s = 0.0;
    for v in x {
        s += (v - a).clamp(0.0, 1.0);
    }
    for v in x {
        if *v > a {
            s += v * a;
        }
    }
    let mut t = a;
    for v in x {
        t = t * v;
    }
    s + t
}

fn main() {}
