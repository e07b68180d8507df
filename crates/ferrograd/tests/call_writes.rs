//! A call whose value argument reads the buffer that the same call writes through `&mut`
//! (`hout(y, a[1], &mut a)`): the argument is the value before the call. Found by the
//! random-program generator (reverse mode gave a wrong gradient, forward mode was right).

mod common;
use common::{assert_close, check_modes, fd_grad};
use ferrograd::differentiable;

#[differentiable]
fn hout(a: &[f64], x: f64, out: &mut [f64]) {
    for i in 0..out.len() {
        out[i] = (a[i] * x).sin() + 0.5 * a[i];
    }
}

#[differentiable]
fn whole(x: f64, y: &[f64]) -> f64 {
    let mut a = [x, x * x, 0.5, 1.0];
    hout(y, a[1], &mut a);
    a[0] + a[1]
}

#[differentiable]
fn sub(x: f64, y: &[f64]) -> f64 {
    let mut a = [x, x * x, 0.5, 1.0];
    hout(y, a[1] * a[0] + x, &mut a[1..]);
    a[0] + a[1] * a[2]
}

#[differentiable]
fn in_a_loop(x: f64, y: &[f64]) -> f64 {
    let mut a = [x, 2.0 * x, x * x, 1.0];
    let mut s = 0.0;
    for k in 0..3 {
        hout(y, a[k] - 0.1 * a[3], &mut a);
        s += a[k + 1];
    }
    s
}

#[differentiable]
fn slice_param(x: f64, y: &[f64], out: &mut [f64]) {
    hout(y, out[1] * x, out);
}

const Y: [f64; 4] = [0.3, -0.7, 1.1, 0.4];

#[test]
fn value_arguments_read_the_buffer_before_the_call_writes_it() {
    for x in [0.8, -0.45, 1.3] {
        for (name, f, grad, push) in [
            (
                "whole",
                whole as fn(f64, &[f64]) -> f64,
                whole_grad as fn(f64, &[f64], &mut f64, &mut [f64]) -> f64,
                whole_pushforward as fn(f64, &[f64], f64, &[f64]) -> (f64, f64),
            ),
            ("sub", sub, sub_grad, sub_pushforward),
            (
                "in_a_loop",
                in_a_loop,
                in_a_loop_grad,
                in_a_loop_pushforward,
            ),
        ] {
            // Inputs: x and y (flattened).
            let mut z = vec![x];
            z.extend_from_slice(&Y);
            check_modes(
                name,
                &z,
                |z| f(z[0], &z[1..]),
                |z, g| {
                    let (mut dx, mut dy) = (0.0, vec![0.0; 4]);
                    let v = grad(z[0], &z[1..], &mut dx, &mut dy);
                    g[0] = dx;
                    g[1..].copy_from_slice(&dy);
                    v
                },
                |z, t| push(z[0], &z[1..], t[0], &t[1..]),
                1e-12,
            );
        }
    }
}

#[test]
fn a_mut_slice_parameter_read_and_written_by_one_call() {
    let x = 0.8;
    let out0 = [0.5, -0.3, 0.2, 0.9];
    let seed = [1.0, 1.0, 0.0, 0.0];
    // Scalar objective: seed · out(x, out0).
    let obj = |z: &[f64]| {
        let mut o = z[1..].to_vec();
        slice_param(z[0], &Y, &mut o);
        o.iter().zip(&seed).map(|(a, b)| a * b).sum::<f64>()
    };
    let mut z = vec![x];
    z.extend_from_slice(&out0);
    let fd = fd_grad(&z, obj);
    let mut o = out0.to_vec();
    let mut d_o = seed.to_vec();
    let (mut dx, mut dy) = (0.0, [0.0; 4]);
    slice_param_pullback(x, &Y, &mut o, &mut dx, &mut dy, &mut d_o);
    let mut got = vec![dx];
    got.extend_from_slice(&d_o);
    assert_close("slice_param reverse vs fd", &got, &fd, 1e-6);
}
