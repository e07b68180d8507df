//! The program generator: a weighted grammar over the constructs the AD compiler supports.
//!
//! Shared by `build.rs` (the programs of the test, fixed seed plus a rotating batch), the
//! `fuzz_loop` example and the `cargo fuzz` target; it depends on nothing but [`Rng`].
//!
//! A program is produced once, as a *template*, and rendered twice by [`render`]: natively
//! (`f64`, `f32` or generic over `T: ferrograd::Real`, marked `#[ferrograd::differentiable]`)
//! and generically (`fn p_g<T: Num>`, evaluated by the dual-number oracle). Markers in the
//! template: `⟪1.5⟫` a float literal, `⟬PI⟭` a `consts` constant, `⟦i + 1⟧` an integer cast to
//! the float type, `ℱ` the float type, `§` the helper-name suffix. A `Real`-generic program is
//! checked at `f64` and at `f32` (its derivatives are generic too).
//!
//! Closures, tuples and sub-slices keep Rust's borrow rules by construction: a closure that is
//! kept for later calls *freezes* what it captures (no more writes to those locals, arrays and
//! tuples while it is in scope; shadowing is still allowed); an `FnMut` closure writes only
//! fresh locals and is called right after its definition; a closure defined in a loop body is
//! called once, where it is defined. Tuple fields are plain bounded values (`t.0`, `t.1`, an
//! optional index `t.2`). The two sub-slices passed to `hsum` have one length, and `hout`'s
//! input is at least as long as its output (constant bounds, or `i..`, `..i`, `..n` from
//! integers whose range is known).
//!
//! Domain discipline (values stay finite, functions differentiable almost everywhere): every
//! expression is *bounded* (|v| ≲ 6) or *any* (moderate); `exp`, `powi`, products feed only on
//! bounded values; `ln`/`sqrt`/`powf`/`log`/`acosh`/`cbrt` only of `c + a²` (c > 0);
//! `asin`/`acos`/`atanh`/`tan` only of `c·tanh(a)` with `c < 1`; division only by `1 + a²`;
//! loop-carried values are damped (`acc = 0.5·acc + …`) and arrays written inside loops keep
//! their bound (`a[i] = 0.5·(a[i] + b)`, `a[i] += 0.1·tanh(b)`).
//!
//! Signature of every program: `fn p(x0: F, x1: F, x2: F, x3: F, y: &[F], idx: &[usize],
//! n: usize) -> F`, called with `y.len() == ARR`, `idx.len() == ARR`, every `idx[k] < ARR`,
//! and `n == N`. Every local array has length `ARR`; an index expression is only generated
//! when its value is provably in `0..ARR` (see [`Gen::index`]).

use super::rng::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Length of `y`, `idx` and every local array.
pub const ARR: usize = 4;
/// The integer parameter `n` (loop bound, `n < ARR`).
pub const N: usize = 3;
/// Seed of the fixed programs run in CI.
pub const FIXED_SEED: u64 = 0x00F3_4401_D1FF_7E57;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    pub fn ty(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

/// How a template is rendered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Plain `f32`/`f64` code for `#[differentiable]`.
    Native(Precision),
    /// Generic code over `T: Num` for the oracle.
    Generic,
    /// Generic code over `T: ferrograd::Real` for `#[differentiable]` (literals through
    /// `T::from_f64`, `T::zero()`, `T::one()`).
    Real,
}

/// Renders the markers of a template (see the module docs).
pub fn render(t: &str, mode: Mode) -> String {
    let mut out = String::with_capacity(t.len() + t.len() / 4);
    let mut it = t.chars();
    while let Some(c) = it.next() {
        let mut until = |end: char| -> String { it.by_ref().take_while(|&c| c != end).collect() };
        match (c, mode) {
            ('⟪', Mode::Native(p)) => {
                let v = until('⟫');
                let _ = write!(out, "{v}_{}", p.ty());
            }
            ('⟪', Mode::Generic) => {
                let v = until('⟫');
                let _ = write!(out, "T::c({v})");
            }
            ('⟪', Mode::Real) => match until('⟫').as_str() {
                "0.0" => out.push_str("T::zero()"),
                "1.0" => out.push_str("T::one()"),
                v => {
                    let _ = write!(out, "T::from_f64({v})");
                }
            },
            ('⟬', Mode::Real) => {
                let v = until('⟭');
                let _ = write!(out, "T::from_f64(std::f64::consts::{v})");
            }
            ('⟦', Mode::Real) => {
                let v = until('⟧');
                let _ = write!(out, "T::from_f64(({v}) as f64)");
            }
            ('ℱ', Mode::Real) => out.push('T'),
            ('§', Mode::Real) => out.push_str("_r"),
            ('⟬', Mode::Native(p)) => {
                let v = until('⟭');
                let _ = write!(out, "std::{}::consts::{v}", p.ty());
            }
            ('⟬', Mode::Generic) => {
                let v = until('⟭');
                let _ = write!(out, "T::c(std::f64::consts::{v})");
            }
            ('⟦', Mode::Native(p)) => {
                let v = until('⟧');
                let _ = write!(out, "(({v}) as {})", p.ty());
            }
            ('⟦', Mode::Generic) => {
                let v = until('⟧');
                let _ = write!(out, "T::c(({v}) as f64)");
            }
            ('ℱ', Mode::Native(p)) => out.push_str(p.ty()),
            ('ℱ', Mode::Generic) => out.push('T'),
            ('§', Mode::Native(Precision::F64)) => {}
            ('§', Mode::Native(Precision::F32)) => out.push_str("_f32"),
            ('§', Mode::Generic) => out.push_str("_g"),
            (c, _) => out.push(c),
        }
    }
    out
}

/// How often each construct was generated (by name, see [`CONSTRUCTS`]).
pub type Coverage = BTreeMap<&'static str, usize>;

/// Statements at function level (outside loops): name, weight.
pub const TOP: &[(&str, u32)] = &[
    ("let", 10),
    ("assign", 3),
    ("compound", 6),
    ("shadow", 3),
    ("if_stmt", 4),
    ("if_expr", 3),
    ("match", 3),
    ("arr_literal", 5),
    ("arr_repeat", 3),
    ("arr_fill", 3),
    ("arr_set", 4),
    ("arr_compound", 5),
    ("arr_shadow", 2),
    ("if_on_array", 3),
    ("call_arrays", 4),
    ("call_same_array_twice", 2),
    ("call_out", 3),
    ("int_local", 2),
    ("early_return", 2),
    ("loop", 14),
    ("closure_def", 4),
    ("closure_nested", 4),
    ("closure_loop", 2),
    ("closure_fnmut", 2),
    ("closure_call", 5),
    ("tuple_let", 3),
    ("tuple_destructure", 3),
    ("tuple_write", 5),
    ("tuple_swap", 4),
    ("tuple_copy", 3),
    ("slice_call", 4),
    ("slice_call_out", 3),
    ("stacked_calls", 3),
    ("stash_call", 4),
];

/// Statements inside a loop body (`acc` is the loop's accumulator).
pub const BODY: &[(&str, u32)] = &[
    ("acc_damp", 5),
    ("acc_sin", 3),
    ("acc_let", 3),
    ("acc_compound", 4),
    ("acc_if", 3),
    ("acc_taped", 3),
    ("if_on_array", 4),
    ("arr_set", 3),
    ("arr_compound", 5),
    ("arr_literal", 1),
    ("shadow", 2),
    ("match", 2),
    ("continue", 2),
    ("break", 2),
    ("early_return", 2),
    ("call_arrays", 2),
    ("call_out_in_loop", 1),
    ("nested_loop", 4),
    ("closure_in_loop", 2),
    ("closure_call", 1),
    ("tuple_in_loop", 2),
    ("tuple_write", 2),
    ("slice_call_in_loop", 2),
];

/// Loop heads.
pub const LOOPS: &[(&str, u32)] = &[
    ("range", 3),
    ("range_rev", 2),
    ("range_step_by", 2),
    ("range_rev_step_by", 1),
    ("range_inclusive", 2),
    ("range_inclusive_rev", 1),
    ("range_len", 1),
    ("range_triangular", 2),
    ("while", 2),
    ("loop_break", 2),
    ("array_by_value", 5),
    ("array_by_value_written", 2),
    ("array_iter", 5),
    ("array_enumerate", 5),
    ("slice_iter", 1),
    ("slice_by_ref", 1),
    ("slice_enumerate", 1),
];

/// Expression-level constructs counted in the coverage (beyond the tables above).
pub const EXPRS: &[&str] = &[
    "f32",
    "f64",
    "generic",
    "call:closure",
    "closure_captures_local",
    "closure_captures_array",
    "closure_shadowed_capture",
    "closure_fnmut_array",
    "read:tuple",
    "tuple_int_field",
    "tuple_destructure_var",
    "tuple_wildcard",
    "sub_slice:range",
    "sub_slice:from",
    "sub_slice:to",
    "sub_slice:inclusive",
    "sub_slice:full",
    "sub_slice:var",
    "sub_slice:n",
    "sub_slice:local_array",
    "sub_slice:mut_existing",
    "call_out_reads_output",
    "stacked:disjoint",
    "stacked:overlap",
    "index:const",
    "index:var",
    "index:var+1",
    "index:var-1",
    "index:idx[..]",
    "index:rem",
    "index:n-1-var",
    "read:slice",
    "read:array",
    "read:array_any",
    "cast",
    "const",
    "call:helper",
    "call:hsum",
    "call:hiter",
    "call:hacc",
    "call:hstash",
    "call:hstash2",
    "stash:reused",
    "stash:in_loop",
    "stash:disjoint",
    "stash:overlap",
    "closure_fnmut_in_loop",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "exp",
    "exp2",
    "exp_m1",
    "ln",
    "log10",
    "log2",
    "ln_1p",
    "sqrt",
    "cbrt",
    "abs",
    "recip",
    "signum",
    "floor",
    "ceil",
    "round",
    "trunc",
    "powi",
    "powf",
    "atan2",
    "hypot",
    "max",
    "min",
    "log",
    "mul_add",
    "div",
    "neg",
    "simd:powf",
    "simd:abs",
    "simd:max_min",
    "simd:const_events",
];

/// Every construct name the generator can emit.
pub fn constructs() -> Vec<&'static str> {
    let mut v: Vec<&str> = TOP.iter().chain(BODY).chain(LOOPS).map(|c| c.0).collect();
    v.extend(EXPRS);
    v.sort_unstable();
    v.dedup();
    v
}

/// Construct names to leave out (a weight of zero), e.g. while a compiler fix is pending.
#[derive(Clone, Debug, Default)]
pub struct Weights {
    pub exclude: Vec<&'static str>,
}

/// One generated program.
#[derive(Clone, Debug)]
pub struct Generated {
    pub name: String,
    /// The float type (`F64` for a generic program, which is checked at both).
    pub precision: Precision,
    /// Generic over `T: ferrograd::Real` (checked at `f64` and `f32`).
    pub generic: bool,
    /// The body, a template (see [`render`]).
    pub body: String,
    /// Options of `#[differentiable(..)]`: empty, `simd` or `parallel` (see [`simd_program`]).
    pub attr: &'static str,
    /// How the inputs reach the function: plain parameters, a struct, or `&self`.
    pub shape: Shape,
    /// Also `hessian` (a plain program's `attr` is then `hessian`; a struct or method program
    /// adds it to its own): `p_hessian` is checked against the oracle on nested dual numbers
    /// (`f64` programs).
    pub hessian: bool,
    /// A `simd` program's reduction also as `p_ch`, a function of its own whose events are
    /// constant slice parameters (see [`Generated::const_events_native`]).
    pub const_events: bool,
}

/// Where a [`simd_program`] body's reduction starts (what comes before builds its events).
const SIMD_REDUCTION: &str = "    let mut s = x0 * ⟪0.5⟫;\n";

/// How a program takes its float inputs. The body is the same; in the struct shapes `x0`,
/// `x1` and `y` are fields of a `#[derive(Differentiable)]` struct and `x2`, `x3` fields of a
/// nested one (`s.inner.x2`), so the compiler's struct flattening, nested field paths,
/// `Vec`/array fields and (for `Method`) `&self` are checked against the same oracle.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    Plain,
    /// `fn p(s: &p_S, idx, n)`; `vec`: `y` is a `Vec` (else an array).
    Struct {
        vec: bool,
    },
    /// `impl p_S { fn p(&self, idx, n) }`.
    Method {
        vec: bool,
    },
    /// `fn p(v: &p_V<&[F]>, idx, n)` over a view struct generic over its storage: `x0`…`x3`
    /// are `v.xs[0]`…`v.xs[3]` and `y` is `v.y`; the adjoint is `&mut p_V<&mut [F]>`.
    View,
    /// `p` as written, then `fn p_t(..) -> (F, F)` returning its value halved twice, and
    /// `fn p_call(..)` adding the two back after `let (a, b) = p_t(..)`: tuple results, one
    /// seed per element and destructuring in a caller, exactly equal to `p`.
    TupleCall,
}

/// `x0`…`x3` and `y` of a rendered body as fields of `root` (`y` borrowed where it is passed
/// whole: `&s.y`).
pub fn as_fields(body: &str, root: &str) -> String {
    rename_inputs(body, |word, next| match word {
        "x0" | "x1" => Some(format!("{root}.{word}")),
        "x2" | "x3" => Some(format!("{root}.inner.{word}")),
        "y" if matches!(next, Some('[' | '.')) => Some(format!("{root}.y")),
        "y" => Some(format!("&{root}.y")),
        _ => None,
    })
}

/// `x0`…`x3` and `y` of a rendered body as the slices of view `root`: `root.xs[k]`, `root.y`
/// (handed on bare where it is passed whole: a view's field is a slice already).
pub fn as_view_fields(body: &str, root: &str) -> String {
    rename_inputs(body, |word, _| match word {
        "x0" | "x1" | "x2" | "x3" => Some(format!("{root}.xs[{}]", &word[1..])),
        "y" => Some(format!("{root}.y")),
        _ => None,
    })
}

/// Rewrites the identifiers of a rendered body that `f` (given the word and the next
/// non-blank character) maps, leaving fields (`t.y`) and identifier tails alone.
fn rename_inputs(body: &str, f: impl Fn(&str, Option<char>) -> Option<String>) -> String {
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::with_capacity(body.len() + body.len() / 4);
    let mut k = 0;
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while k < chars.len() {
        let c = chars[k];
        // Not the tail of an identifier, nor a field (`t.y`; a range `..y` is fine).
        let field = k >= 2 && chars[k - 1] == '.' && chars[k - 2] != '.';
        if is_ident(c) && (k == 0 || (!is_ident(chars[k - 1]) && !field)) {
            let start = k;
            while k < chars.len() && is_ident(chars[k]) {
                k += 1;
            }
            let word: String = chars[start..k].iter().collect();
            let next = chars[k..].iter().find(|c| !c.is_whitespace()).copied();
            match f(&word, next) {
                Some(w) => out.push_str(&w),
                None => out.push_str(&word),
            }
            continue;
        }
        out.push(c);
        k += 1;
    }
    out
}

impl Generated {
    /// `f64`, `f32` or `generic`.
    pub fn kind(&self) -> &'static str {
        if self.generic {
            "generic"
        } else {
            self.precision.ty()
        }
    }

    /// The `#[differentiable]` function (for the struct shapes: the function, its structs and
    /// adapters `p_plain`, `p_plain_grad`, `p_plain_pushforward` with the plain signature).
    pub fn native(&self) -> String {
        match self.shape {
            Shape::Plain => {}
            Shape::TupleCall => {
                let plain = Generated {
                    shape: Shape::Plain,
                    ..self.clone()
                };
                return plain.native() + &self.tuple_native();
            }
            Shape::View => return self.view_native(),
            _ => return self.struct_native(),
        }
        if self.generic {
            return format!(
                "#[ferrograd::differentiable{}]\npub fn {}<T: ferrograd::Real>(x0: T, x1: T, x2: T, x3: T, y: &[T], idx: &[usize], n: usize) -> T {{\n{}}}\n",
                self.attr_list(),
                self.name,
                render(&self.body, Mode::Real)
            );
        }
        let f = self.precision.ty();
        format!(
            "#[ferrograd::differentiable{}]\npub fn {}(x0: {f}, x1: {f}, x2: {f}, x3: {f}, y: &[{f}], idx: &[usize], n: usize) -> {f} {{\n{}}}\n{}",
            self.attr_list(),
            self.name,
            render(&self.body, Mode::Native(self.precision)),
            self.const_events_native()
        )
    }

    /// The name the test harness calls: `p`, or `p_plain` for the struct shapes.
    pub fn entry(&self) -> String {
        match self.shape {
            Shape::Plain => self.name.clone(),
            Shape::TupleCall => format!("{}_call", self.name),
            _ => format!("{}_plain", self.name),
        }
    }

    fn tuple_native(&self) -> String {
        let n = &self.name;
        let (f, gb, half) = if self.generic {
            (
                "T".to_string(),
                "<T: ferrograd::Real>",
                "T::from_f64(0.5)".to_string(),
            )
        } else {
            let f = self.precision.ty();
            (f.to_string(), "", format!("0.5_{f}"))
        };
        let xs = format!("x0: {f}, x1: {f}, x2: {f}, x3: {f}, y: &[{f}], idx: &[usize], n: usize");
        let args = "x0, x1, x2, x3, y, idx, n";
        let a = self.attr_list();
        format!(
            "#[ferrograd::differentiable{a}]\npub fn {n}_t{gb}({xs}) -> ({f}, {f}) {{\n    let v = {n}({args});\n    (v * {half}, v * {half})\n}}\n\
             #[ferrograd::differentiable{a}]\npub fn {n}_call{gb}({xs}) -> {f} {{\n    let (a, b) = {n}_t({args});\n    a + b\n}}\n"
        )
    }

    fn struct_native(&self) -> String {
        let n = &self.name;
        let (f, g, gb) = if self.generic {
            ("T".to_string(), "<T>", "<T: ferrograd::Real>")
        } else {
            (self.precision.ty().to_string(), "", "")
        };
        let body = render(
            &self.body,
            if self.generic {
                Mode::Real
            } else {
                Mode::Native(self.precision)
            },
        );
        let (vec, method) = match self.shape {
            Shape::Struct { vec } => (vec, false),
            Shape::Method { vec } => (vec, true),
            Shape::Plain | Shape::TupleCall | Shape::View => {
                unreachable!("rendered by `native`, `tuple_native` and `view_native`")
            }
        };
        let mut out = String::new();
        let y_ty = if vec {
            format!("Vec<{f}>")
        } else {
            format!("[{f}; {ARR}]")
        };
        let y_make = if vec {
            "y.to_vec()".to_string()
        } else {
            let elems: Vec<String> = (0..ARR).map(|k| format!("y[{k}]")).collect();
            format!("[{}]", elems.join(", "))
        };
        // The adapters go through `{n}_call`, which hands the struct whole to the program (a
        // method call on `self`, or a call with `s`), so whole-struct arguments are checked
        // too.
        let a = self.attr_list();
        // The program itself is also `hessian` (not `{n}_call`, which hands the struct whole).
        let ah = if self.hessian {
            format!("({}, hessian)", self.attr)
        } else {
            a.clone()
        };
        if method {
            if self.generic {
                // A generic `impl` block: its methods use the block's scalar.
                let _ = writeln!(out, "impl<T: ferrograd::Real> {n}_S<T> {{");
            } else {
                let _ = writeln!(out, "impl {n}_S {{");
            }
            let _ = writeln!(out, "#[ferrograd::differentiable{ah}]");
            let _ = writeln!(out, "pub fn {n}(&self, idx: &[usize], n: usize) -> {f} {{");
            let _ = writeln!(out, "{}}}", as_fields(&body, "self"));
            let _ = writeln!(out, "#[ferrograd::differentiable{a}]");
            let _ = writeln!(
                out,
                "pub fn {n}_call(&self, idx: &[usize], n: usize) -> {f} {{"
            );
            let _ = writeln!(out, "    self.{n}(idx, n)\n}}\n}}");
        } else {
            let _ = writeln!(out, "#[ferrograd::differentiable{ah}]");
            let _ = writeln!(
                out,
                "pub fn {n}{gb}(s: &{n}_S{g}, idx: &[usize], n: usize) -> {f} {{"
            );
            let _ = writeln!(out, "{}}}", as_fields(&body, "s"));
            let _ = writeln!(out, "#[ferrograd::differentiable{a}]");
            let _ = writeln!(
                out,
                "pub fn {n}_call{gb}(s: &{n}_S{g}, idx: &[usize], n: usize) -> {f} {{"
            );
            let _ = writeln!(out, "    {n}(s, idx, n)\n}}");
        }
        let call = |s: &str, suffix: &str, rest: &str| {
            if method {
                format!("{s}.{n}_call{suffix}(idx, n{rest})")
            } else {
                format!("{n}_call{suffix}(&{s}, idx, n{rest})")
            }
        };
        let xs = format!("x0: {f}, x1: {f}, x2: {f}, x3: {f}, y: &[{f}], idx: &[usize], n: usize");
        let derive = "#[derive(Clone, Debug, ferrograd::Differentiable)]";
        let _ = writeln!(
            out,
            "{derive}\npub struct {n}_In{g} {{ pub x2: {f}, pub x3: {f} }}"
        );
        let _ = writeln!(
            out,
            "{derive}\npub struct {n}_S{g} {{ pub x0: {f}, pub x1: {f}, pub inner: {n}_In{g}, pub y: {y_ty} }}"
        );
        let _ = writeln!(
            out,
            "pub fn {n}_mk{gb}(x0: {f}, x1: {f}, x2: {f}, x3: {f}, y: &[{f}]) -> {n}_S{g} {{\n    {n}_S {{ x0, x1, inner: {n}_In {{ x2, x3 }}, y: {y_make} }}\n}}"
        );
        let _ = writeln!(
            out,
            "pub fn {n}_plain{gb}({xs}) -> {f} {{\n    let s = {n}_mk(x0, x1, x2, x3, y);\n    {}\n}}",
            call("s", "", "")
        );
        let _ = writeln!(
            out,
            "pub fn {n}_plain_grad{gb}({xs}, d0: &mut {f}, d1: &mut {f}, d2: &mut {f}, d3: &mut {f}, dy: &mut [{f}]) -> {f} {{\n    \
             let s = {n}_mk(x0, x1, x2, x3, y);\n    \
             let mut d = ferrograd::Differentiable::zero_like(&s);\n    \
             let v = {};\n    \
             *d0 += d.x0;\n    *d1 += d.x1;\n    *d2 += d.inner.x2;\n    *d3 += d.inner.x3;\n    \
             for (a, b) in dy.iter_mut().zip(d.y.iter()) {{\n        *a += *b;\n    }}\n    v\n}}",
            call("s", "_grad", ", &mut d")
        );
        let _ = writeln!(
            out,
            "pub fn {n}_plain_pushforward{gb}({xs}, t0: {f}, t1: {f}, t2: {f}, t3: {f}, ty: &[{f}]) -> ({f}, {f}) {{\n    \
             let s = {n}_mk(x0, x1, x2, x3, y);\n    \
             let t = {n}_mk(t0, t1, t2, t3, ty);\n    {}\n}}",
            call("s", "_pushforward", ", &t")
        );
        if self.hessian {
            // The rows of `{n}_hessian` are the fields the body uses, named by
            // `{n}_HESSIAN_INPUTS`; the harness's are x0…x3, y.
            let (names, call) = if method {
                (
                    format!("{n}_S::{n}_HESSIAN_INPUTS"),
                    format!("s.{n}_hessian(idx, n, &mut h)"),
                )
            } else {
                (
                    format!("{n}_HESSIAN_INPUTS"),
                    format!("{n}_hessian(&s, idx, n, &mut h)"),
                )
            };
            let _ = writeln!(
                out,
                "pub fn {n}_plain_hessian({xs}, hess: &mut [{f}]) -> Result<{f}, ferrograd::ShapeError> {{
                     let s = {n}_mk(x0, x1, x2, x3, y);
                     let w = ferrograd_difftest::hessian_width({names});
                     let mut h = vec![0.0; w * w];
                     let v = {call}?;
                     ferrograd_difftest::scatter_hessian({names}, &h, hess);
    Ok(v)
}}"
            );
        }
        out
    }

    fn view_native(&self) -> String {
        let n = &self.name;
        let (f, gb) = if self.generic {
            ("T".to_string(), "<T: ferrograd::Real>")
        } else {
            (self.precision.ty().to_string(), "")
        };
        let body = render(
            &self.body,
            if self.generic {
                Mode::Real
            } else {
                Mode::Native(self.precision)
            },
        );
        let a = self.attr_list();
        let xs = format!("x0: {f}, x1: {f}, x2: {f}, x3: {f}, y: &[{f}], idx: &[usize], n: usize");
        let zero = if self.generic {
            "T::from_f64(0.0)".to_string()
        } else {
            format!("0.0_{f}")
        };
        format!(
            "pub struct {n}_V<S> {{ pub xs: S, pub y: S }}
             #[ferrograd::differentiable{a}]
             pub fn {n}{gb}(v: &{n}_V<&[{f}]>, idx: &[usize], n: usize) -> {f} {{
{}}}
             pub fn {n}_plain{gb}({xs}) -> {f} {{
                 let xs = [x0, x1, x2, x3];
    {n}(&{n}_V {{ xs: &xs[..], y }}, idx, n)
}}
             pub fn {n}_plain_grad{gb}({xs}, d0: &mut {f}, d1: &mut {f}, d2: &mut {f}, d3: &mut {f}, dy: &mut [{f}]) -> {f} {{
                 let xs = [x0, x1, x2, x3];
                 let mut dxs = [{zero}; 4];
                 let v = {n}_grad(&{n}_V {{ xs: &xs[..], y }}, idx, n, &mut {n}_V {{ xs: &mut dxs[..], y: dy }});
                 *d0 += dxs[0];
    *d1 += dxs[1];
    *d2 += dxs[2];
    *d3 += dxs[3];
    v
}}
             pub fn {n}_plain_pushforward{gb}({xs}, t0: {f}, t1: {f}, t2: {f}, t3: {f}, ty: &[{f}]) -> ({f}, {f}) {{
                 let (xs, ts) = ([x0, x1, x2, x3], [t0, t1, t2, t3]);
                 {n}_pushforward(&{n}_V {{ xs: &xs[..], y }}, idx, n, &{n}_V {{ xs: &ts[..], y: ty }})
}}
",
            as_view_fields(&body, "v")
        )
    }

    fn attr_list(&self) -> String {
        if self.attr.is_empty() {
            String::new()
        } else {
            format!("({})", self.attr)
        }
    }

    /// The same program, generic over the oracle's `Num` (and `p_ch_g`, see
    /// [`const_events_native`](Self::const_events_native)).
    pub fn generic(&self) -> String {
        let mut s = format!(
            "pub fn {}_g<T: Num>(x0: T, x1: T, x2: T, x3: T, y: &[T], idx: &[usize], n: usize) -> T {{\n{}}}\n",
            self.name,
            render(&self.body, Mode::Generic)
        );
        if let Some((_, reduction)) = self.const_events_parts() {
            let _ = write!(
                s,
                "pub fn {}_ch_g<T: Num>(x0: T, x1: T, x2: T, x3: T, ev: &[T], w: &[T]) -> T {{\n{}}}\n",
                self.name,
                render(&reduction, Mode::Generic)
            );
        }
        s
    }

    /// A `const_events` program's body cut where its reduction starts: the code that builds
    /// the events `ev` and `w`, and the reduction over them, reading them from slices.
    fn const_events_parts(&self) -> Option<(String, String)> {
        if !self.const_events {
            return None;
        }
        let at = self.body.find(SIMD_REDUCTION)?;
        let (events, reduction) = self.body.split_at(at);
        // Over a slice parameter the by-value loop binds by pattern (`for e in ev` would bind
        // `&f64`).
        Some((
            events.to_string(),
            reduction.replace("for e in ev {", "for &e in ev {"),
        ))
    }

    /// For a `const_events` program: `p_ch`, its reduction as a function with `hessian,
    /// wrt(x0, x1, x2, x3)` whose events are the slice parameters `ev` and `w`. They are
    /// constants of the Hessian that only the outlined loop reads, so `p_ch_hessian` hands them
    /// to its sweep as plain `f64` (`vloop::WithPlain`); `w` is not read by every loop form,
    /// and is then a constant copied into dual numbers. `p_ch_events` builds the events at a
    /// point as the program does.
    fn const_events_native(&self) -> String {
        let Some((events, reduction)) = self.const_events_parts() else {
            return String::new();
        };
        let n = &self.name;
        let mode = Mode::Native(Precision::F64);
        format!(
            "#[ferrograd::differentiable({}, hessian, wrt(x0, x1, x2, x3))]\npub fn {n}_ch(x0: f64, x1: f64, x2: f64, x3: f64, ev: &[f64], w: &[f64]) -> f64 {{\n{}}}\n             pub fn {n}_ch_events(x1: f64, y: &[f64]) -> (Vec<f64>, Vec<f64>) {{\n{}    (ev.to_vec(), w.to_vec())\n}}\n",
            self.attr,
            render(&reduction, mode),
            render(&events, mode),
        )
    }
}

/// The seed of program `index` of the set seeded by `seed` (each program is reproducible
/// alone).
pub fn program_seed(seed: u64, index: usize) -> u64 {
    let mut r = Rng::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    r.next_u64()
}

/// Program `index` of the set seeded by `seed`, named `p{index}`.
pub fn program(seed: u64, index: usize, weights: &Weights, cov: &mut Coverage) -> Generated {
    let mut rng = Rng::new(program_seed(seed, index));
    let r = rng.unit();
    let generic = r < 0.2 && !weights.exclude.contains(&"generic");
    let precision = if (0.2..0.4).contains(&r) {
        Precision::F32
    } else {
        Precision::F64
    };
    let kind = if generic { "generic" } else { precision.ty() };
    *cov.entry(kind).or_default() += 1;
    let mut g = Gen {
        rng: &mut rng,
        cov,
        weights,
        floats: (0..4)
            .map(|k| Var {
                name: format!("x{k}"),
                bounded: true,
            })
            .collect(),
        arrays: Vec::new(),
        ints: vec![IntVar {
            name: "n".into(),
            lo: N,
            hi: N + 1,
        }],
        frozen: Vec::new(),
        frozen_locals: Vec::new(),
        closures: Vec::new(),
        tuples: Vec::new(),
        stashes: Vec::new(),
        fresh: 0,
        body: String::new(),
        indent: 1,
    };
    g.program();
    let mut body = g.body;
    // Drawn after the program so that the other programs of a seed stay what they were.
    let mut attr = "";
    if !generic && rng.chance(0.15) && !weights.exclude.contains(&"simd") {
        attr = if rng.chance(0.5) { "simd" } else { "parallel" };
        *cov.entry(attr).or_default() += 1;
        body = simd_program(&mut rng, cov);
    }
    // Struct parameters and methods (drawn last too): the same body over struct fields.
    let mut shape = Shape::Plain;
    if attr.is_empty() && !weights.exclude.contains(&"struct") {
        let (r, vec) = (rng.unit(), rng.chance(0.5));
        if r < 0.15 {
            shape = Shape::Struct { vec };
        } else if r < 0.25 {
            shape = Shape::Method { vec };
        } else if r < 0.33 {
            shape = Shape::TupleCall;
        } else if r < 0.41 {
            shape = Shape::View;
        }
        // `wrt(..)` names the struct: a generated body may read every field only as a call
        // argument, where the compiler cannot tell a float from a size on its own.
        match shape {
            Shape::Struct { .. } => {
                *cov.entry("struct").or_default() += 1;
                attr = "wrt(s)";
            }
            Shape::Method { .. } => {
                *cov.entry("method").or_default() += 1;
                if generic {
                    *cov.entry("generic_method").or_default() += 1;
                }
                attr = "wrt(self)";
            }
            Shape::TupleCall => *cov.entry("tuple_result").or_default() += 1,
            Shape::View => *cov.entry("view_struct").or_default() += 1,
            Shape::Plain => {}
        }
    }
    // Every third plain, struct or method `f64` program is also compiled with `hessian` (not
    // those calling the helpers that write `&mut` outputs: a Hessian needs none; generic
    // functions have none).
    let hessian = matches!(
        shape,
        Shape::Plain | Shape::Struct { .. } | Shape::Method { .. }
    ) && (attr.is_empty() || shape != Shape::Plain)
        && !generic
        && precision == Precision::F64
        && index.is_multiple_of(3)
        && !body.contains("hout")
        && !body.contains("hacc")
        && !body.contains("hstash")
        && !weights.exclude.contains(&"hessian");
    if hessian {
        if shape == Shape::Plain {
            attr = "hessian";
        }
        let what = match shape {
            Shape::Plain => "hessian",
            Shape::Method { .. } => "hessian_method",
            _ => "hessian_struct",
        };
        *cov.entry(what).or_default() += 1;
    }
    // Every second `f64` `simd` program also gets `p_ch` (no random draw: the other programs
    // stay what they were).
    let const_events = !attr.is_empty()
        && shape == Shape::Plain
        && !generic
        && precision == Precision::F64
        && body.contains(SIMD_REDUCTION)
        && index.is_multiple_of(2);
    if const_events {
        *cov.entry("simd:const_events").or_default() += 1;
    }
    Generated {
        name: format!("p{index}"),
        precision,
        generic,
        body,
        attr,
        shape,
        hessian,
        const_events,
    }
}

/// A program for `#[differentiable(simd)]` / `(parallel)`: events built from the inputs into
/// a local array (lengths around the 8 and 16 lanes, and one past four reduction blocks so the
/// threaded tree runs), then a reduction loop over them in one of the forms the compiler
/// vectorises, with a random branch-free body over the event, the loop-invariant inputs and
/// body locals; the sum returned directly (the fused one-pass gradient) or used further (a
/// value pass and a pullback pass).
pub fn simd_program(rng: &mut Rng, cov: &mut Coverage) -> String {
    let lens = [1usize, 7, 8, 9, 16, 17, 27, 40, 8200];
    let len = lens[rng.below(lens.len())];
    let mut b = String::new();
    let _ = writeln!(b, "    let mut ev = [⟪0.0⟫; {len}];");
    let _ = writeln!(b, "    let mut w = [⟪0.0⟫; {len}];");
    let _ = writeln!(b, "    for k in 0..{len} {{");
    let _ = writeln!(
        b,
        "        ev[k] = y[k % 4] * ⟪0.3⟫ + x1 * ⟦k % 13⟧ * ⟪0.05⟫;"
    );
    let _ = writeln!(b, "        w[k] = (y[(k + 1) % 4] * ⟦k % 7⟧).sin();");
    let _ = writeln!(b, "    }}");
    let _ = writeln!(b, "    let mut s = x0 * ⟪0.5⟫;");
    let form = rng.below(4);
    let (head, e, wv) = match form {
        0 => ("for &e in ev.iter() {".to_string(), "e".to_string(), None),
        1 => ("for e in ev {".to_string(), "e".to_string(), None),
        2 => (
            format!("for i in 0..{len} {{"),
            "ev[i]".to_string(),
            Some("w[i]"),
        ),
        _ => {
            let lo = rng.below(len.min(5));
            (
                format!("for i in {lo}..{len} {{"),
                "ev[i]".to_string(),
                None,
            )
        }
    };
    let _ = writeln!(b, "    {head}");
    let mut names: Vec<String> = vec![e.clone()];
    if let Some(w) = wv {
        names.push(w.to_string());
    }
    for k in 0..rng.below(3) {
        let ex = simd_expr(rng, &names, 3, cov);
        let _ = writeln!(b, "        let a{k} = {ex};");
        names.push(format!("a{k}"));
    }
    for r in 0..1 + rng.below(2) {
        let mut ex = simd_expr(rng, &names, 3, cov);
        if r == 0 {
            // Every event is read, whatever the random expression picked.
            ex = format!("{e} * ⟪0.25⟫ + {ex}");
        }
        let op = if rng.chance(0.5) { "+=" } else { "-=" };
        let _ = writeln!(b, "        s {op} {ex};");
    }
    let _ = writeln!(b, "    }}");
    if rng.chance(0.5) {
        let _ = writeln!(b, "    s");
    } else {
        let _ = writeln!(b, "    s * x2 + (x3 * s).tanh()");
    }
    b
}

/// A branch-free expression over `names` (event values and body locals), the invariant
/// inputs `x0..x3` and literals, kept in the functions' domains: arithmetic and the float
/// primitives, those whose rules select by value (`powf`, `abs`, `max`, `min`) included.
fn simd_expr(rng: &mut Rng, names: &[String], depth: usize, cov: &mut Coverage) -> String {
    let leaf = |rng: &mut Rng| -> String {
        match rng.below(4) {
            0 | 1 => names[rng.below(names.len())].clone(),
            2 => format!("x{}", rng.below(4)),
            _ => format!("⟪{}⟫", ["0.5", "1.5", "-0.75", "2.0"][rng.below(4)]),
        }
    };
    if depth == 0 || rng.chance(0.25) {
        return leaf(rng);
    }
    let a = simd_expr(rng, names, depth - 1, cov);
    let c = simd_expr(rng, names, depth - 1, cov);
    match rng.below(19) {
        0 => format!("({a} + {c})"),
        1 => format!("({a} - {c})"),
        2 | 3 => format!("({a} * {c})"),
        4 => format!("({a} / (⟪1.0⟫ + {c} * {c}))"),
        5 => format!("({a}).sin()"),
        6 => format!("({a}).cos()"),
        7 => format!("({a}).tanh()"),
        8 => format!("(({a}).tanh()).exp()"),
        9 => format!("(⟪1.0⟫ + {a} * {a}).ln()"),
        10 => format!("(⟪1.0⟫ + {a} * {a}).sqrt()"),
        11 => format!("({a}).atan()"),
        12 => format!("({a}).powi({})", 2 + rng.below(2)),
        13 => format!("({a}).mul_add({c}, x1)"),
        14 => format!("(({a}).tanh()).exp_m1()"),
        15 => format!("({a}).hypot(⟪1.0⟫)"),
        // The primitives whose rules select by value: lanes disagree on them.
        16 => {
            *cov.entry("simd:powf").or_default() += 1;
            format!("(⟪1.0⟫ + {a} * {a}).powf(⟪0.5⟫ * ({c}).tanh())")
        }
        17 => {
            *cov.entry("simd:abs").or_default() += 1;
            format!("({a}) * ({a}).abs()")
        }
        _ => {
            *cov.entry("simd:max_min").or_default() += 1;
            let f = if rng.chance(0.5) { "max" } else { "min" };
            format!("({a}).{f}({c})")
        }
    }
}

/// A module `module` holding `programs` (native and generic versions) and
/// `pub fn programs() -> Vec<Program>`, for a crate that depends on `ferrograd-difftest`.
pub fn write_module(out: &mut String, module: &str, programs: &[Generated]) {
    let _ = writeln!(
        out,
        "#[allow(warnings, clippy::all, reason = \"randomly generated programs\")]\npub mod {module} {{\n    use ferrograd_difftest::helpers::*;\n    use ferrograd_difftest::oracle::Num;\n"
    );
    let mut table = String::new();
    for p in programs {
        let native = p.native();
        for line in native.lines().chain(p.generic().lines()) {
            let _ = writeln!(out, "    {line}");
        }
        let _ = writeln!(out);
        // A generic program is checked at both precisions.
        let instances: &[&str] = if p.generic {
            &["generic f64", "generic f32"]
        } else {
            &[p.precision.ty()]
        };
        for ty in instances {
            let mut hess = if p.hessian && ty.ends_with("f64") {
                format!("hessian {}_hessian, ", p.entry())
            } else {
                String::new()
            };
            if p.const_events {
                hess = format!(
                    "const_events {n}_ch, {n}_ch_hessian, {n}_ch_events, {n}_ch_g, {hess}",
                    n = p.name
                );
            }
            let _ = writeln!(
                table,
                "            ferrograd_difftest::program!({hess}{ty}, {e}, {e}_grad, {e}_pushforward, {n}_g, {native:?}),",
                n = p.name,
                e = p.entry()
            );
        }
    }
    let _ = writeln!(
        out,
        "    pub fn programs() -> Vec<ferrograd_difftest::Program> {{\n        vec![\n{table}        ]\n    }}\n}}\n"
    );
}

#[derive(Clone)]
struct Var {
    name: String,
    bounded: bool,
}

/// An integer variable with `lo <= value < hi`.
#[derive(Clone)]
struct IntVar {
    name: String,
    lo: usize,
    hi: usize,
}

/// A local tuple `(F, F)` or `(F, F, usize)`; every float field bounded.
#[derive(Clone)]
struct TupleVar {
    name: String,
    /// Has a third field, an index in `0..ARR`.
    int: bool,
}

struct Gen<'r> {
    rng: &'r mut Rng,
    cov: &'r mut Coverage,
    weights: &'r Weights,
    floats: Vec<Var>,
    arrays: Vec<Var>,
    ints: Vec<IntVar>,
    /// Arrays borrowed by an enclosing `.iter()` loop (not written in its body) or captured by
    /// a closure in scope.
    frozen: Vec<String>,
    /// Float locals and tuples captured by a closure in scope (not written; shadowing is fine).
    frozen_locals: Vec<String>,
    /// Closures in scope: `|z: F| …`, bounded when called with a bounded argument.
    closures: Vec<String>,
    /// Tuples in scope (their fields are also in `floats`/`ints` as `t.0`, …).
    tuples: Vec<TupleVar>,
    /// Arrays only stash arguments see (never read, never in `arrays`; function level).
    stashes: Vec<String>,
    fresh: usize,
    body: String,
    indent: usize,
}

/// Visible entries of a scope list: the last binding of every name.
fn visible(list: &[Var]) -> Vec<Var> {
    let mut out: Vec<Var> = Vec::new();
    for (k, v) in list.iter().enumerate() {
        if !list[k + 1..].iter().any(|w| w.name == v.name) {
            out.push(v.clone());
        }
    }
    out
}

impl Gen<'_> {
    fn cover(&mut self, name: &'static str) {
        *self.cov.entry(name).or_default() += 1;
    }

    fn line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.body.push_str("    ");
        }
        self.body.push_str(s);
        self.body.push('\n');
    }

    fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs[self.rng.below(xs.len())]
    }

    /// A weighted choice among the entries of `table` allowed by `ok` and not excluded.
    fn choose(&mut self, table: &[(&'static str, u32)], ok: impl Fn(&str) -> bool) -> &'static str {
        let allowed: Vec<(&'static str, u32)> = table
            .iter()
            .copied()
            .filter(|(n, w)| *w > 0 && ok(n) && !self.weights.exclude.contains(n))
            .collect();
        let total: u32 = allowed.iter().map(|c| c.1).sum();
        let mut r = self.rng.below(total.max(1) as usize) as u32;
        for (n, w) in &allowed {
            if r < *w {
                self.cover(n);
                return n;
            }
            r -= w;
        }
        allowed.first().map_or("let", |c| c.0)
    }

    fn allowed(&self, name: &str) -> bool {
        !self.weights.exclude.contains(&name)
    }

    fn lit(&mut self) -> String {
        let v = (self.rng.uniform(0.1, 2.0) * 100.0).round() / 100.0;
        format!("⟪{v:?}⟫")
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.fresh += 1;
        format!("{prefix}{}", self.fresh)
    }

    // ------------------------------------------------------------ indices

    /// An integer expression whose value is in `0..ARR`.
    fn index(&mut self, depth: usize) -> String {
        let ints = self.ints.clone();
        let mut options: Vec<(&'static str, String)> =
            vec![("index:const", format!("{}", self.rng.below(ARR)))];
        for v in &ints {
            if v.hi <= ARR && v.lo < v.hi {
                options.push(("index:var", v.name.clone()));
                if self.rng.chance(0.3) {
                    let c = 1 + self.rng.below(3);
                    options.push(("index:rem", format!("({} + {c}) % {ARR}", v.name)));
                }
            }
            if v.hi < ARR {
                options.push(("index:var+1", format!("{} + 1", v.name)));
            }
            if v.lo >= 1 && v.hi <= ARR + 1 {
                options.push(("index:var-1", format!("{} - 1", v.name)));
            }
            if v.hi <= N && v.name != "n" {
                options.push(("index:n-1-var", format!("n - 1 - {}", v.name)));
            }
        }
        if depth > 0 {
            let inner = self.index(depth - 1);
            options.push(("index:idx[..]", format!("idx[{inner}]")));
            options.push(("index:idx[..]", format!("idx[{inner}]")));
        }
        let (name, e) = options.swap_remove(self.rng.below(options.len()));
        self.cover(name);
        e
    }

    /// An integer expression for `match`.
    fn int_scrutinee(&mut self) -> String {
        if self.rng.chance(0.3) {
            let i = self.index(1);
            return format!("idx[{i}]");
        }
        let v = self.ints[self.rng.below(self.ints.len())].clone();
        v.name
    }

    // ------------------------------------------------------------ expressions

    fn visible_floats(&self, bounded_only: bool) -> Vec<String> {
        visible(&self.floats)
            .into_iter()
            .filter(|v| v.bounded || !bounded_only)
            .map(|v| v.name)
            .collect()
    }

    fn visible_arrays(&self, bounded_only: bool) -> Vec<String> {
        visible(&self.arrays)
            .into_iter()
            .filter(|v| v.bounded || !bounded_only)
            .map(|v| v.name)
            .collect()
    }

    /// An array argument: a bounded local array (by reference) or `y`.
    fn array_arg(&mut self) -> String {
        let arrays = self.visible_arrays(true);
        if arrays.is_empty() || self.rng.chance(0.25) {
            "y".into()
        } else {
            format!("&{}", arrays[self.rng.below(arrays.len())])
        }
    }

    /// A leaf with |value| ≲ 3 (6 for arrays written in loops).
    fn bounded_leaf(&mut self) -> String {
        let r = self.rng.below(12);
        if r < 1 {
            return self.lit();
        }
        if r < 3 {
            self.cover("read:slice");
            let i = self.index(1);
            return format!("y[{i}]");
        }
        if r < 6 {
            let arrays = self.visible_arrays(true);
            if !arrays.is_empty() {
                self.cover("read:array");
                let a = arrays[self.rng.below(arrays.len())].clone();
                let i = self.index(1);
                return format!("{a}[{i}]");
            }
        }
        if r == 6 {
            let ints: Vec<String> = self
                .ints
                .iter()
                .filter(|v| v.hi <= ARR)
                .map(|v| v.name.clone())
                .collect();
            if !ints.is_empty() {
                self.cover("cast");
                let i = ints[self.rng.below(ints.len())].clone();
                return format!("⟦{i}⟧ * ⟪0.5⟫");
            }
        }
        if r == 7 {
            self.cover("const");
            let c = self.pick(&["PI", "E", "FRAC_PI_4", "LN_2", "SQRT_2", "FRAC_1_PI"]);
            return format!("⟬{c}⟭");
        }
        let b = self.visible_floats(true);
        let v = b[self.rng.below(b.len())].clone();
        if v.contains('.') {
            self.cover("read:tuple");
        }
        v
    }

    /// An expression with |value| ≲ 3.
    fn bounded(&mut self, depth: usize) -> String {
        if depth == 0 || self.rng.chance(0.25) {
            return self.bounded_leaf();
        }
        let d = depth - 1;
        if !self.closures.is_empty() && self.rng.chance(0.06) {
            return self.closure_call(d);
        }
        match self.rng.below(16) {
            0..=3 => {
                let a = self.any(d);
                let f = self.pick(&["sin", "cos", "tanh", "atan"]);
                self.cover(f);
                format!("({a}).{f}()")
            }
            4 => {
                self.cover("div");
                let a = self.any(d);
                format!("({a}) / (⟪1.0⟫ + ({a}) * ({a}))")
            }
            5 => {
                let (a, b) = (self.bounded(d), self.bounded(d));
                format!("⟪0.5⟫ * ({a} + {b})")
            }
            6 => {
                self.cover("sin");
                let (a, b) = (self.bounded_leaf(), self.bounded(d));
                format!("{a} * ({b}).sin()")
            }
            7 => {
                self.cover("call:helper");
                let (a, b) = (self.any(d), self.any(d));
                format!("helper§({a}, {b})")
            }
            8 => {
                let (a, b) = (self.bounded(d), self.bounded(d));
                let f = self.pick(&["max", "min"]);
                self.cover(f);
                format!("({a}).{f}({b})")
            }
            9 if self.allowed("call:hsum") => {
                self.cover("call:hsum");
                let (a, b) = (self.array_arg(), self.array_arg());
                let x = self.bounded(d);
                format!("hsum§({a}, {b}, {x})")
            }
            10 if self.allowed("call:hiter") => {
                self.cover("call:hiter");
                let a = self.array_arg();
                format!("hiter§({a}, idx, n)")
            }
            11 => {
                let a = self.any(d);
                let (f, c) = match self.rng.below(4) {
                    0 => ("tan", "0.7"),
                    1 => ("asin", "0.9"),
                    2 => ("acos", "0.9"),
                    _ => ("atanh", "0.8"),
                };
                self.cover(f);
                self.cover("tanh");
                format!("(⟪{c}⟫ * ({a}).tanh()).{f}()")
            }
            12 => {
                let a = self.bounded(d);
                let f = self.pick(&["floor", "ceil", "round", "trunc", "signum"]);
                self.cover(f);
                let b = self.bounded(d);
                format!("⟪0.1⟫ * ({a}).{f}() + {b}")
            }
            13 => {
                self.cover("neg");
                let a = self.bounded(d);
                format!("-({a})")
            }
            _ => {
                self.cover("recip");
                let a = self.bounded(d);
                format!("(⟪2.0⟫ + ({a}).sin()).recip()")
            }
        }
    }

    /// An expression of moderate magnitude.
    fn any(&mut self, depth: usize) -> String {
        if depth == 0 {
            return self.bounded_leaf();
        }
        let d = depth - 1;
        match self.rng.below(28) {
            0 | 1 => self.bounded(depth),
            2 => {
                let (a, b) = (self.bounded(d), self.bounded(d));
                let op = self.pick(&["+", "-", "*"]);
                format!("{a} {op} {b}")
            }
            3 => {
                let (a, b) = (self.bounded(d), self.bounded(d));
                format!("{a} * {b}")
            }
            4 => {
                self.cover("neg");
                let a = self.bounded(d);
                format!("-({a})")
            }
            5 => {
                let a = self.bounded(d);
                let f = self.pick(&["exp", "exp2"]);
                self.cover(f);
                format!("({a}).{f}()")
            }
            6 => {
                self.cover("powi");
                let a = self.bounded(d);
                let k = 2 + self.rng.below(2);
                format!("({a}).powi({k})")
            }
            7 => {
                self.cover("mul_add");
                let (a, b, c) = (self.bounded(d), self.bounded(d), self.bounded(d));
                format!("({a}).mul_add({b}, {c})")
            }
            8 => {
                self.cover("ln");
                let a = self.any(d);
                format!("(({a}) * ({a}) + ⟪1.0⟫).ln()")
            }
            9 => {
                self.cover("sqrt");
                let a = self.any(d);
                let c = self.lit();
                format!("(({a}) * ({a}) + {c}).sqrt()")
            }
            10 => {
                self.cover("atan2");
                let (a, b) = (self.bounded(d), self.bounded(d));
                format!("({a}).atan2(⟪1.0⟫ + ({b}) * ({b}))")
            }
            11 => {
                self.cover("hypot");
                let (a, b) = (self.bounded(d), self.bounded(d));
                format!("({a}).hypot(⟪0.5⟫ + ({b}) * ({b}))")
            }
            12 => {
                self.cover("div");
                let (a, b) = (self.any(d), self.bounded(d));
                format!("({a}) / (⟪1.0⟫ + ({b}) * ({b}))")
            }
            13 => {
                let a = self.bounded(d);
                let f = self.pick(&["cosh", "sinh", "exp_m1", "asinh"]);
                self.cover(f);
                format!("({a}).{f}()")
            }
            14 => {
                let a = self.bounded(d);
                let f = self.pick(&["ln_1p", "log10", "log2", "cbrt"]);
                self.cover(f);
                format!("(({a}) * ({a}) + ⟪0.5⟫).{f}()")
            }
            15 => {
                self.cover("acosh");
                let a = self.bounded(d);
                format!("(({a}) * ({a}) + ⟪1.5⟫).acosh()")
            }
            16 => {
                self.cover("powf");
                let (a, b) = (self.bounded(d), self.bounded(d));
                format!("(⟪1.0⟫ + ({a}) * ({a})).powf(⟪0.5⟫ * ({b}).tanh())")
            }
            17 => {
                // A variable of any class, combined linearly.
                let all = self.visible_floats(false);
                let v = all[self.rng.below(all.len())].clone();
                let b = self.bounded(d);
                format!("⟪0.5⟫ * {v} + {b}")
            }
            18 => {
                let (a, b) = (self.any(d), self.bounded(d));
                format!("{a} + {b}")
            }
            19 => {
                self.cover("abs");
                let a = self.bounded(d);
                format!("({a}) * ({a}).abs()")
            }
            20 => {
                self.cover("call:helper");
                let (a, b) = (self.any(d), self.any(d));
                format!("helper§({a}, {b})")
            }
            21 => {
                self.cover("log");
                let (a, b) = (self.any(d), self.bounded(d));
                format!("(({a}) * ({a}) + ⟪1.5⟫).log(⟪2.0⟫ + ({b}) * ({b}))")
            }
            22 | 23 => {
                // An element of any array (also those grown by `+=`), combined linearly.
                let arrays = self.visible_arrays(false);
                if arrays.is_empty() {
                    return self.bounded(depth);
                }
                self.cover("read:array_any");
                let a = arrays[self.rng.below(arrays.len())].clone();
                let i = self.index(1);
                let b = self.bounded(d);
                format!("⟪0.5⟫ * {a}[{i}] + {b}")
            }
            24 if self.allowed("call:hsum") => {
                self.cover("call:hsum");
                let (a, b) = (self.array_arg(), self.array_arg());
                let x = self.any(d);
                format!("hsum§({a}, {b}, {x})")
            }
            _ => {
                let (a, b) = (self.any(d), self.bounded(d));
                format!("{a} - {b}")
            }
        }
    }

    fn cond(&mut self) -> String {
        let a = self.bounded(1);
        let b = self.bounded(1);
        let op = self.pick(&["<", ">", "<=", ">="]);
        format!("{a} {op} {b}")
    }

    // ------------------------------------------------------------ statements

    fn push_float(&mut self, name: String, bounded: bool) {
        self.floats.push(Var { name, bounded });
    }

    /// Marks every binding of `name` as unbounded.
    fn demote(&mut self, name: &str) {
        for v in self.floats.iter_mut().chain(self.arrays.iter_mut()) {
            if v.name == name {
                v.bounded = false;
            }
        }
    }

    /// Locals declared in the current loop body or at function level outside loops (the only
    /// ones written freely; see the module docs).
    fn writable_locals(&self, from: usize) -> Vec<Var> {
        self.shadowable_locals(from)
            .into_iter()
            .filter(|v| !self.frozen_locals.contains(&v.name))
            .collect()
    }

    /// [`Self::writable_locals`] plus those captured by a closure (a new binding is fine).
    fn shadowable_locals(&self, from: usize) -> Vec<Var> {
        visible(&self.floats[from..])
            .into_iter()
            .filter(|v| v.name.starts_with('v'))
            .collect()
    }

    /// A writable local array: declared in scope and not borrowed by an enclosing `.iter()`.
    fn writable_array(&mut self) -> Option<Var> {
        let arrays: Vec<Var> = visible(&self.arrays)
            .into_iter()
            .filter(|a| !self.frozen.contains(&a.name))
            .collect();
        if arrays.is_empty() {
            None
        } else {
            Some(arrays[self.rng.below(arrays.len())].clone())
        }
    }

    fn new_array_literal(&mut self, depth: usize) -> (String, bool) {
        let bounded = self.rng.chance(0.7);
        let elems: Vec<String> = (0..ARR)
            .map(|_| {
                if bounded {
                    self.bounded(depth)
                } else {
                    self.any(depth)
                }
            })
            .collect();
        (format!("[{}]", elems.join(", ")), bounded)
    }

    /// One statement at function level.
    fn top_stmt(&mut self, depth: usize) {
        let locals = self.writable_locals(0);
        let shadowable = self.shadowable_locals(0);
        let has_arrays = self.writable_array().is_some();
        let (has_closures, has_tuples) = (!self.closures.is_empty(), !self.tuples.is_empty());
        let writable_tuple = self.writable_tuple().is_some();
        let c = self.choose(TOP, |n| match n {
            "assign" | "compound" | "if_stmt" => !locals.is_empty(),
            "shadow" => !shadowable.is_empty(),
            "arr_set" | "arr_compound" | "arr_shadow" | "if_on_array" => has_arrays,
            "closure_call" | "closure_nested" => has_closures,
            "tuple_copy" => has_tuples,
            "tuple_write" | "tuple_swap" => writable_tuple,
            _ => true,
        });
        match c {
            "let" => {
                let name = self.fresh("v");
                let bounded = self.rng.chance(0.5);
                let e = if bounded {
                    self.bounded(depth)
                } else {
                    self.any(depth)
                };
                self.line(&format!("let mut {name} = {e};"));
                self.push_float(name, bounded);
            }
            "assign" => {
                let t = locals[self.rng.below(locals.len())].clone();
                let e = if t.bounded {
                    self.bounded(depth)
                } else {
                    self.any(depth)
                };
                if e != t.name {
                    self.line(&format!("{} = {e};", t.name));
                }
            }
            "compound" => {
                let t = locals[self.rng.below(locals.len())].clone();
                let e = self.bounded(depth);
                match self.rng.below(4) {
                    0 => {
                        self.line(&format!("{} += {e};", t.name));
                        self.demote(&t.name);
                    }
                    1 => {
                        self.line(&format!("{} -= {e};", t.name));
                        self.demote(&t.name);
                    }
                    2 => {
                        self.cover("tanh");
                        self.line(&format!("{} *= ({e}).tanh();", t.name))
                    }
                    _ => {
                        self.cover("div");
                        self.line(&format!("{} /= ⟪1.0⟫ + ({e}) * ({e});", t.name))
                    }
                }
            }
            "shadow" => {
                let t = shadowable[self.rng.below(shadowable.len())].clone();
                let e = self.bounded(depth);
                self.line(&format!("let mut {} = ⟪0.5⟫ * {} + {e};", t.name, t.name));
                self.push_float(t.name, t.bounded);
            }
            "if_stmt" => {
                let t = locals[self.rng.below(locals.len())].clone();
                let c = self.cond();
                let mut a = self.bounded(depth);
                let b = self.any(depth);
                if a == t.name {
                    a = format!("⟪0.5⟫ * {a}");
                }
                self.line(&format!("if {c} {{"));
                self.line(&format!("    {} = {a};", t.name));
                self.line("} else {");
                self.line(&format!("    {} += {b};", t.name));
                self.line("}");
                self.demote(&t.name);
            }
            "if_expr" => {
                let c = self.cond();
                let (a, b) = (self.bounded(depth), self.any(depth));
                let name = self.fresh("v");
                self.line(&format!(
                    "let mut {name} = if {c} {{ {a} }} else {{ {b} }};"
                ));
                self.push_float(name, false);
            }
            "match" => self.match_let(depth),
            "arr_literal" => {
                let name = self.fresh("a");
                let (lit, bounded) = self.new_array_literal(depth.min(1));
                self.line(&format!("let mut {name} = {lit};"));
                self.arrays.push(Var { name, bounded });
            }
            "arr_repeat" => {
                let name = self.fresh("a");
                let e = self.bounded(depth);
                self.line(&format!("let mut {name} = [{e}; {ARR}];"));
                self.arrays.push(Var {
                    name,
                    bounded: true,
                });
            }
            "arr_fill" => {
                let name = self.fresh("a");
                self.line(&format!("let mut {name} = [⟪0.0⟫; {ARR}];"));
                for k in 0..ARR {
                    let e = self.bounded(depth.min(1));
                    self.line(&format!("{name}[{k}] = {e};"));
                }
                self.arrays.push(Var {
                    name,
                    bounded: true,
                });
            }
            "arr_set" | "arr_compound" => {
                let a = self.writable_array().expect("checked");
                let i = self.index(2);
                let e = self.bounded(depth);
                let set = c == "arr_set";
                self.array_update(&a, &i, &e, set, false);
            }
            "arr_shadow" => {
                // A new array built from the elements of the one it shadows.
                let a = self.writable_array().expect("checked");
                let elems: Vec<String> = (0..ARR)
                    .map(|_| {
                        let i = self.index(1);
                        let e = self.bounded(0);
                        format!("⟪0.5⟫ * ({}[{i}] + {e})", a.name)
                    })
                    .collect();
                self.line(&format!("let mut {} = [{}];", a.name, elems.join(", ")));
                self.arrays.push(a);
            }
            "if_on_array" => self.if_on_array(depth, None),
            "call_arrays" | "call_same_array_twice" => self.call_arrays(depth, c),
            "call_out" => self.call_out(depth),
            "closure_def" | "closure_nested" => {
                self.closure_def(c == "closure_nested");
                if self.rng.chance(0.3) {
                    // A closure calling the one just defined.
                    self.cover("closure_nested");
                    self.closure_def(true);
                }
            }
            "closure_loop" => self.closure_loop(),
            "closure_fnmut" => self.closure_fnmut(),
            "closure_call" => {
                let name = self.fresh("v");
                let e = self.closure_call(depth);
                self.line(&format!("let mut {name} = {e};"));
                self.push_float(name, true);
            }
            "tuple_let" => {
                self.tuple_let(depth);
                // Often used at once: a write, a swap, a copy or a destructuring.
                match self.rng.below(6) {
                    0 => {
                        self.cover("tuple_write");
                        self.tuple_write(depth);
                    }
                    1 => {
                        self.cover("tuple_swap");
                        self.tuple_swap(depth);
                    }
                    2 => {
                        self.cover("tuple_copy");
                        let t = self.tuples.last().expect("pushed").clone();
                        let u = self.fresh("t");
                        self.line(&format!("let mut {u} = {};", t.name));
                        self.push_tuple(u, t.int);
                    }
                    3 => {
                        self.cover("tuple_destructure");
                        self.tuple_destructure(depth);
                    }
                    _ => {}
                }
            }
            "tuple_destructure" => self.tuple_destructure(depth),
            "tuple_write" => self.tuple_write(depth),
            "tuple_swap" => self.tuple_swap(depth),
            "tuple_copy" => {
                let t = self.tuples[self.rng.below(self.tuples.len())].clone();
                let u = self.fresh("t");
                self.line(&format!("let mut {u} = {};", t.name));
                self.push_tuple(u, t.int);
            }
            "slice_call" => {
                let name = self.fresh("v");
                let e = self.slice_call(depth);
                self.line(&format!("let mut {name} = {e};"));
                self.push_float(name, true);
            }
            "slice_call_out" => self.slice_call_out(depth),
            "stacked_calls" => self.stacked_calls(depth),
            "stash_call" => self.stash_call(depth),
            "int_local" => {
                let name = self.fresh("k");
                let i = self.index(1);
                let (e, lo, hi) = if self.rng.chance(0.5) {
                    (format!("idx[{i}]"), 0, ARR)
                } else {
                    (format!("({i} + 1) % {ARR}"), 0, ARR)
                };
                self.line(&format!("let {name} = {e};"));
                self.ints.push(IntVar { name, lo, hi });
            }
            "early_return" => {
                let c = self.cond();
                let e = self.any(depth);
                self.line(&format!("if {c} {{"));
                self.line(&format!("    return {e};"));
                self.line("}");
            }
            _ => self.loop_stmt(0),
        }
    }

    /// `a[i] = e`, `a[i] op= e` keeping the array's bound; `in_loop`: the update may run
    /// many times, so growth is limited to `0.1` per execution.
    fn array_update(&mut self, a: &Var, i: &str, e: &str, set: bool, in_loop: bool) {
        let name = &a.name;
        if set {
            if self.rng.chance(0.5) {
                self.line(&format!("{name}[{i}] = {e};"));
            } else {
                self.line(&format!("{name}[{i}] = ⟪0.5⟫ * ({name}[{i}] + {e});"));
            }
            return;
        }
        match self.rng.below(4) {
            0 | 1 => {
                let op = if self.rng.chance(0.5) { "+=" } else { "-=" };
                if in_loop {
                    self.cover("tanh");
                    self.line(&format!("{name}[{i}] {op} ⟪0.1⟫ * ({e}).tanh();"));
                } else {
                    self.line(&format!("{name}[{i}] {op} {e};"));
                    self.demote(name);
                }
            }
            2 => {
                self.cover("tanh");
                self.line(&format!("{name}[{i}] *= ({e}).tanh();"));
            }
            _ => {
                self.cover("div");
                self.line(&format!("{name}[{i}] /= ⟪1.0⟫ + ({e}) * ({e});"));
            }
        }
    }

    /// `let v = match int { 0 => …, 1 | 2 => …, 3..=5 => …, _ => … };`
    fn match_let(&mut self, depth: usize) {
        let s = self.int_scrutinee();
        let name = self.fresh("v");
        let arms: Vec<String> = (0..4).map(|_| self.any(depth.min(1))).collect();
        self.line(&format!("let mut {name} = match {s} {{"));
        self.line(&format!("    0 => {},", arms[0]));
        self.line(&format!("    1 | 2 => {},", arms[1]));
        self.line(&format!("    3..=5 => {},", arms[2]));
        self.line(&format!("    _ => {},", arms[3]));
        self.line("};");
        self.push_float(name, false);
    }

    /// `if a[i] > c { … } else { … }`, updating `acc` in a loop or a fresh local outside.
    fn if_on_array(&mut self, depth: usize, acc: Option<&str>) {
        let arrays = self.visible_arrays(false);
        let a = arrays[self.rng.below(arrays.len())].clone();
        let i = self.index(2);
        let c = self.rng.uniform(-0.5, 0.5);
        let (x, y) = (self.bounded(depth), self.bounded(depth));
        let op = self.pick(&[">", "<", ">=", "<="]);
        let cond = format!("{a}[{i}] {op} ⟪{:?}⟫", (c * 100.0).round() / 100.0);
        match acc {
            Some(acc) => {
                self.line(&format!("if {cond} {{"));
                self.line(&format!("    {acc} = ⟪0.5⟫ * {acc} + {x};"));
                self.line("} else {");
                self.line(&format!("    {acc} -= ⟪0.5⟫ * {acc} + {y};"));
                self.line("}");
            }
            None => {
                let name = self.fresh("v");
                self.line(&format!("let mut {name} = ⟪0.0⟫;"));
                self.line(&format!("if {cond} {{"));
                self.line(&format!("    {name} = {x};"));
                self.line("} else {");
                self.line(&format!("    {name} += {a}[{i}] * {y};"));
                self.line("}");
                self.push_float(name, false);
            }
        }
    }

    /// `let v = hsum(&a, &b, x)` (`same`: the same array twice) or `hiter(&a, idx, n)`.
    fn call_arrays(&mut self, depth: usize, kind: &str) {
        let name = self.fresh("v");
        let e = if kind == "call_same_array_twice" {
            let a = self.array_arg();
            let x = self.bounded(depth);
            self.cover("call:hsum");
            format!("hsum§({a}, {a}, {x})")
        } else if self.rng.chance(0.6) {
            let (a, b) = (self.array_arg(), self.array_arg());
            let x = self.bounded(depth);
            self.cover("call:hsum");
            format!("hsum§({a}, {b}, {x})")
        } else {
            let a = self.array_arg();
            self.cover("call:hiter");
            format!("hiter§({a}, idx, n)")
        };
        self.line(&format!("let mut {name} = {e};"));
        self.push_float(name, true);
    }

    /// `let mut o = [0.0; ARR]; hout(&a, x, &mut o);` (a fresh output, written once).
    fn call_out(&mut self, depth: usize) {
        let name = self.fresh("a");
        let a = self.array_arg();
        let x = self.bounded(depth);
        self.line(&format!("let mut {name} = [⟪0.0⟫; {ARR}];"));
        self.line(&format!("hout§({a}, {x}, &mut {name});"));
        self.arrays.push(Var {
            name,
            bounded: true,
        });
    }

    /// A loop around a few statements updating an accumulator; `depth` is the nesting level.
    fn loop_stmt(&mut self, depth: usize) {
        let acc = self.fresh("v");
        let init = self.bounded(1);
        self.line(&format!("let mut {acc} = {init};"));
        let (floats, arrays, ints, frozen) = (
            self.floats.len(),
            self.arrays.len(),
            self.ints.len(),
            self.frozen.len(),
        );
        let (frozen_locals, closures, tuples) = (
            self.frozen_locals.len(),
            self.closures.len(),
            self.tuples.len(),
        );
        let has_arrays = !self.visible_arrays(false).is_empty();
        let has_index = self.ints.iter().any(|v| v.name != "n" && v.hi <= ARR);
        let head = self.choose(LOOPS, |n| match n {
            "array_by_value" | "array_by_value_written" | "array_iter" | "array_enumerate" => {
                has_arrays
            }
            "range_triangular" => has_index,
            _ => true,
        });
        let i = self.fresh("i");
        let int = |lo: usize, hi: usize| IntVar {
            name: i.clone(),
            lo,
            hi,
        };
        let mut new_int = None;
        let mut new_float = None;
        match head {
            "range" => {
                self.line(&format!("for {i} in 0..n {{"));
                new_int = Some(int(0, N));
            }
            "range_rev" => {
                self.line(&format!("for {i} in (0..n).rev() {{"));
                new_int = Some(int(0, N));
            }
            "range_step_by" => {
                self.line(&format!("for {i} in (0..=n).step_by(2) {{"));
                new_int = Some(int(0, N + 1));
            }
            "range_rev_step_by" => {
                self.line(&format!("for {i} in (1..y.len()).rev().step_by(2) {{"));
                new_int = Some(int(1, ARR));
            }
            "range_inclusive" => {
                self.line(&format!("for {i} in 1..=n {{"));
                new_int = Some(int(1, N + 1));
            }
            "range_inclusive_rev" => {
                self.line(&format!("for {i} in (0..=n).rev() {{"));
                new_int = Some(int(0, N + 1));
            }
            "range_len" => {
                let a = self.array_arg();
                let a = a.trim_start_matches('&');
                self.line(&format!("for {i} in 0..{a}.len() {{"));
                new_int = Some(int(0, ARR));
            }
            "range_triangular" => {
                let outer: Vec<IntVar> = self
                    .ints
                    .iter()
                    .filter(|v| v.name != "n" && v.hi <= ARR)
                    .cloned()
                    .collect();
                let o = outer[self.rng.below(outer.len())].clone();
                self.line(&format!("for {i} in 0..{} {{", o.name));
                new_int = Some(int(0, o.hi.saturating_sub(1).max(1)));
            }
            "while" | "loop_break" => {
                let k = self.fresh("k");
                self.line(&format!("let mut {k} = 0;"));
                if head == "while" {
                    self.line(&format!("while {k} < n {{"));
                } else {
                    self.line("loop {");
                    self.line(&format!("    if {k} >= n {{"));
                    self.line("        break;");
                    self.line("    }");
                }
                self.line(&format!("    let {i} = {k};"));
                self.line(&format!("    {k} += 1;"));
                new_int = Some(int(0, N));
            }
            "array_by_value" | "array_by_value_written" | "array_iter" | "array_enumerate" => {
                let arrays = visible(&self.arrays);
                let a = arrays[self.rng.below(arrays.len())].clone();
                let e = self.fresh("e");
                match head {
                    "array_by_value" => {
                        // The body does not write the array (it iterates over a copy).
                        self.line(&format!("for {e} in {} {{", a.name));
                        self.frozen.push(a.name.clone());
                    }
                    "array_by_value_written" => {
                        // The body may write the array: the loop still sees the copy.
                        self.line(&format!("for {e} in {} {{", a.name));
                    }
                    "array_iter" => {
                        self.line(&format!("for &{e} in {}.iter() {{", a.name));
                        self.frozen.push(a.name.clone());
                    }
                    _ => {
                        self.line(&format!(
                            "for ({i}, &{e}) in {}.iter().enumerate() {{",
                            a.name
                        ));
                        self.frozen.push(a.name.clone());
                        new_int = Some(int(0, ARR));
                    }
                }
                new_float = Some(Var {
                    name: e,
                    bounded: a.bounded,
                });
            }
            _ => {
                let e = self.fresh("e");
                match head {
                    "slice_iter" => self.line(&format!("for &{e} in y.iter() {{")),
                    "slice_by_ref" => self.line(&format!("for &{e} in y {{")),
                    _ => {
                        self.line(&format!("for ({i}, &{e}) in y.iter().enumerate() {{"));
                        new_int = Some(int(0, ARR));
                    }
                }
                new_float = Some(Var {
                    name: e,
                    bounded: true,
                });
            }
        }
        self.indent += 1;
        self.ints.extend(new_int);
        self.floats.extend(new_float);
        self.push_float(acc.clone(), false);
        let body_floats = self.floats.len();
        let n_stmts = 1 + self.rng.below(3);
        for _ in 0..n_stmts {
            self.body_stmt(&acc, depth, body_floats);
        }
        self.indent -= 1;
        self.line("}");
        self.floats.truncate(floats);
        self.arrays.truncate(arrays);
        self.ints.truncate(ints);
        self.frozen.truncate(frozen);
        self.frozen_locals.truncate(frozen_locals);
        self.closures.truncate(closures);
        self.tuples.truncate(tuples);
        self.push_float(acc, false);
    }

    /// One statement in a loop body.
    fn body_stmt(&mut self, acc: &str, depth: usize, body_floats: usize) {
        let has_arrays = !self.visible_arrays(false).is_empty();
        let writable = self.writable_array().is_some();
        let locals = self.writable_locals(body_floats);
        let has_closures = !self.closures.is_empty();
        let writable_tuple = self.writable_tuple().is_some();
        let c = self.choose(BODY, |n| match n {
            "if_on_array" => has_arrays,
            "arr_set" | "arr_compound" => writable,
            "shadow" => !locals.is_empty(),
            "nested_loop" => depth < 1,
            "closure_call" => has_closures,
            "tuple_write" => writable_tuple,
            _ => true,
        });
        match c {
            "acc_damp" => {
                let e = self.bounded(2);
                self.line(&format!("{acc} = ⟪0.5⟫ * {acc} + {e};"));
            }
            "acc_sin" => {
                self.cover("sin");
                let e = self.any(2);
                self.line(&format!("{acc} = ({acc} + {e}).sin();"));
            }
            "acc_let" => {
                let t = self.fresh("v");
                let e = self.any(2);
                self.line(&format!("let {t} = {e};"));
                self.push_float(t.clone(), false);
                self.cover("tanh");
                self.line(&format!("{acc} = ⟪0.5⟫ * {acc} + ({t}).tanh();"));
            }
            "acc_compound" => {
                let e = self.bounded(2);
                match self.rng.below(4) {
                    0 => self.line(&format!("{acc} += {e} - ⟪0.5⟫ * {acc};")),
                    1 => self.line(&format!("{acc} -= ⟪0.5⟫ * {acc} + {e};")),
                    2 => {
                        self.cover("tanh");
                        self.line(&format!("{acc} *= ⟪0.9⟫ * ({e}).tanh();"))
                    }
                    _ => {
                        self.cover("div");
                        self.line(&format!("{acc} /= ⟪1.0⟫ + ({e}) * ({e});"))
                    }
                }
            }
            "acc_if" => {
                let c = format!("{acc} > {}", self.bounded(1));
                let (a, b) = (self.bounded(2), self.bounded(2));
                self.line(&format!("if {c} {{"));
                self.line(&format!("    {acc} = ⟪0.5⟫ * {acc} * {a};"));
                self.line("} else {");
                self.line(&format!("    {acc} = ⟪0.25⟫ * {acc} + {b};"));
                self.line("}");
            }
            "acc_taped" => {
                self.cover("tanh");
                let e = self.bounded(1);
                self.line(&format!("{acc} = ({acc} * {e}).tanh() + {acc} * ⟪0.5⟫;"));
            }
            "if_on_array" => self.if_on_array(1, Some(acc)),
            "arr_set" | "arr_compound" => {
                let a = self.writable_array().expect("checked");
                let i = self.index(2);
                let e = self.bounded(1);
                // Arrays declared outside this loop are updated every iteration.
                self.array_update(&a, &i, &e, c == "arr_set", true);
            }
            "arr_literal" => {
                let name = self.fresh("a");
                let (lit, bounded) = self.new_array_literal(1);
                self.line(&format!("let mut {name} = {lit};"));
                self.arrays.push(Var {
                    name: name.clone(),
                    bounded,
                });
                let i = self.index(1);
                self.cover("tanh");
                self.line(&format!("{acc} = ⟪0.5⟫ * {acc} + ({name}[{i}]).tanh();"));
            }
            "shadow" => {
                let t = locals[self.rng.below(locals.len())].clone();
                let e = self.bounded(1);
                self.line(&format!("let {} = ⟪0.5⟫ * {} + {e};", t.name, t.name));
                self.push_float(t.name, false);
            }
            "match" => {
                let s = self.int_scrutinee();
                let (a, b) = (self.bounded(1), self.bounded(1));
                self.line(&format!("match {s} {{"));
                self.line("    0 => {");
                self.line(&format!("        {acc} = ⟪0.5⟫ * {acc} + {a};"));
                self.line("    }");
                self.line("    1 | 2 => {");
                self.line(&format!("        {acc} -= ⟪0.5⟫ * {acc} + {b};"));
                self.line("    }");
                self.line("    _ => {}");
                self.line("}");
            }
            "continue" => {
                let c = format!("{acc} < {}", self.bounded(1));
                let e = self.bounded(1);
                self.line(&format!("if {c} {{"));
                self.line(&format!("    {acc} += ⟪0.5⟫ * {e};"));
                self.line("    continue;");
                self.line("}");
            }
            "break" => {
                let c = format!("{acc} > {}", self.bounded(1));
                self.line(&format!("if {c} {{"));
                self.line("    break;");
                self.line("}");
            }
            "early_return" => {
                let thr = 1.0 + self.rng.uniform(0.0, 2.0);
                let e = self.bounded(1);
                self.cover("ln");
                self.line(&format!(
                    "if {acc} > ⟪{:?}⟫ {{",
                    (thr * 100.0).round() / 100.0
                ));
                self.line(&format!("    return ({acc}).ln() + {e};"));
                self.line("}");
            }
            "call_arrays" => {
                self.call_arrays(1, "call_arrays");
                let v = self.floats.last().expect("pushed").name.clone();
                self.line(&format!("{acc} = ⟪0.5⟫ * {acc} + {v};"));
            }
            "closure_in_loop" => {
                // Defined and called here (it captures the accumulator, written right after).
                let c = self.fresh("c");
                let z = self.fresh("z");
                self.push_float(z.clone(), true);
                let e = self.bounded(1);
                self.floats.pop();
                self.cover("tanh");
                self.line(&format!(
                    "let {c} = |{z}: ℱ| ({z} * {e}).sin() + ⟪0.5⟫ * ({acc}).tanh();"
                ));
                let a = self.bounded(1);
                self.line(&format!("{acc} = ⟪0.5⟫ * {acc} + {c}({a});"));
            }
            "closure_call" => {
                let e = self.closure_call(1);
                self.line(&format!("{acc} = ⟪0.5⟫ * {acc} + {e};"));
            }
            "tuple_in_loop" => {
                let e = self.bounded(1);
                self.cover("tanh");
                if self.rng.chance(0.5) {
                    let (a, b) = (self.fresh("v"), self.fresh("v"));
                    self.line(&format!("let (mut {a}, mut {b}) = ({e}, ({acc}).tanh());"));
                    self.line(&format!("{acc} = ⟪0.5⟫ * {acc} + {a} * {b};"));
                    self.push_float(a, true);
                    self.push_float(b, true);
                } else {
                    let t = self.fresh("t");
                    self.cover("tuple_swap");
                    self.line(&format!("let mut {t} = (({acc}).tanh(), {e});"));
                    self.line(&format!("{t} = ({t}.1, {t}.0);"));
                    self.line(&format!("{acc} = ⟪0.5⟫ * {acc} + {t}.0 * {t}.1;"));
                    self.push_tuple(t, false);
                }
            }
            "tuple_write" => self.tuple_write(1),
            "slice_call_in_loop" => {
                let e = self.slice_call(1);
                self.line(&format!("{acc} = ⟪0.5⟫ * {acc} + {e};"));
            }
            "call_out_in_loop" => {
                self.call_out(1);
                let o = self.arrays.last().expect("pushed").name.clone();
                let i = self.index(1);
                self.line(&format!("{acc} = ⟪0.5⟫ * {acc} + {o}[{i}];"));
            }
            _ => {
                // A nested loop; its accumulator flows into ours.
                self.loop_stmt(depth + 1);
                let inner = self.floats.last().expect("pushed").name.clone();
                self.cover("tanh");
                self.line(&format!("{acc} = ⟪0.5⟫ * {acc} + ({inner}).tanh();"));
            }
        }
    }

    // ------------------------------------------------------------ closures

    /// Freezes what a closure body `code` captures (float locals, tuples, arrays in scope): no
    /// writes to them while the closure is in scope, as Rust's borrow rules require.
    fn freeze_captures(&mut self, code: &str) {
        let words: BTreeSet<&str> = code
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        let locals: Vec<String> = self
            .shadowable_locals(0)
            .into_iter()
            .map(|v| v.name)
            .chain(self.tuples.iter().map(|t| t.name.clone()))
            .filter(|n| words.contains(n.as_str()))
            .collect();
        let arrays: Vec<String> = visible(&self.arrays)
            .into_iter()
            .map(|a| a.name)
            .filter(|n| words.contains(n.as_str()))
            .collect();
        if !locals.is_empty() {
            self.cover("closure_captures_local");
        }
        if !arrays.is_empty() {
            self.cover("closure_captures_array");
        }
        self.frozen_locals.extend(locals);
        self.frozen.extend(arrays);
    }

    /// `c(e)` of a closure in scope (bounded for a bounded argument).
    fn closure_call(&mut self, depth: usize) -> String {
        self.cover("call:closure");
        let c = self.closures[self.rng.below(self.closures.len())].clone();
        let a = self.bounded(depth);
        format!("{c}({a})")
    }

    /// `let c = |z: F| …;` capturing what its body reads (`nested`: the body calls an earlier
    /// closure); sometimes called at once, or after a captured local is shadowed.
    fn closure_def(&mut self, nested: bool) {
        let c = self.fresh("c");
        let z = self.fresh("z");
        self.push_float(z.clone(), true);
        let mut e = self.bounded(1);
        let locals = self.shadowable_locals(0);
        if !locals.is_empty() && self.rng.chance(0.6) {
            // Capture a local (later frozen, or shadowed).
            let v = &locals[self.rng.below(locals.len())].name;
            self.cover("tanh");
            e = format!("{e} * ({v}).tanh()");
        }
        let body = if nested && !self.closures.is_empty() {
            let inner = self.closure_call(0);
            self.cover("tanh");
            format!("⟪0.5⟫ * {inner} + ({z} * {e}).tanh()")
        } else {
            match self.rng.below(3) {
                0 => {
                    self.cover("sin");
                    format!("({z} * {e}).sin() + ⟪0.5⟫ * {z}")
                }
                1 => {
                    self.cover("tanh");
                    let b = self.bounded(1);
                    format!("⟪0.5⟫ * ({z} + {e}).tanh() + ⟪0.5⟫ * {b}")
                }
                _ => {
                    self.cover("call:helper");
                    format!("helper§({z}, {e})")
                }
            }
        };
        self.floats.pop();
        let before = self.frozen_locals.len();
        self.freeze_captures(&body);
        let captured: Vec<String> = self.frozen_locals[before..].to_vec();
        self.line(&format!("let {c} = |{z}: ℱ| {body};"));
        self.closures.push(c.clone());
        let shadow = captured.iter().find(|n| n.starts_with('v')).cloned();
        if let Some(v) = shadow.filter(|_| self.rng.chance(0.5)) {
            // The closure keeps the binding it captured.
            self.cover("closure_shadowed_capture");
            let e = self.bounded(1);
            self.line(&format!("let mut {v} = ⟪0.5⟫ * {v} + {e};"));
            self.push_float(v, false);
        }
        if self.rng.chance(0.5) {
            let name = self.fresh("v");
            let a = self.bounded(1);
            self.cover("call:closure");
            self.line(&format!("let mut {name} = {c}({a});"));
            self.push_float(name, true);
        }
    }

    /// A closure whose body is a loop (damped accumulator, sometimes a `break`).
    fn closure_loop(&mut self) {
        let (c, z, s) = (self.fresh("c"), self.fresh("z"), self.fresh("s"));
        let (floats, ints) = (self.floats.len(), self.ints.len());
        self.push_float(z.clone(), true);
        let arrays = self.visible_arrays(true);
        let i = self.fresh("i");
        let e = self.fresh("e");
        let head = match self.rng.below(4) {
            0 => {
                self.ints.push(IntVar {
                    name: i.clone(),
                    lo: 0,
                    hi: N,
                });
                format!("for {i} in 0..n {{")
            }
            1 => {
                self.ints.push(IntVar {
                    name: i.clone(),
                    lo: 0,
                    hi: ARR,
                });
                format!("for {i} in (0..y.len()).rev() {{")
            }
            2 if !arrays.is_empty() => {
                let a = arrays[self.rng.below(arrays.len())].clone();
                self.ints.push(IntVar {
                    name: i.clone(),
                    lo: 0,
                    hi: ARR,
                });
                self.push_float(e.clone(), true);
                format!("for ({i}, &{e}) in {a}.iter().enumerate() {{")
            }
            _ => {
                self.push_float(e.clone(), true);
                format!("for &{e} in y.iter() {{")
            }
        };
        let x = self.bounded(1);
        self.cover("sin");
        let mut text = format!(
            "let {c} = |{z}: ℱ| {{\n    let mut {s} = ⟪0.0⟫;\n    {head}\n        {s} = ⟪0.5⟫ * {s} + ({z} * {x}).sin();\n"
        );
        if self.rng.chance(0.3) {
            let _ = write!(
                text,
                "        if {s} > ⟪1.2⟫ {{\n            break;\n        }}\n"
            );
        }
        let _ = write!(text, "    }}\n    {s}\n}};");
        self.floats.truncate(floats);
        self.ints.truncate(ints);
        self.freeze_captures(&text);
        for l in text.lines() {
            self.line(l);
        }
        self.closures.push(c);
    }

    /// `let mut m = |k: usize, z: F| { v = …; a[k] += …; };` writing fresh captured locals,
    /// called a few times right away.
    fn closure_fnmut(&mut self) {
        let (v, a, m) = (self.fresh("v"), self.fresh("a"), self.fresh("m"));
        let (k, z) = (self.fresh("k"), self.fresh("z"));
        let with_array = self.rng.chance(0.5);
        let ints = self.ints.len();
        self.push_float(z.clone(), true);
        if with_array {
            self.ints.push(IntVar {
                name: k.clone(),
                lo: 0,
                hi: ARR,
            });
        }
        let e = self.bounded(1);
        self.floats.pop();
        self.ints.truncate(ints);
        self.line(&format!("let mut {v} = ⟪0.0⟫;"));
        self.cover("sin");
        if with_array {
            self.cover("closure_fnmut_array");
            self.cover("tanh");
            self.line(&format!("let mut {a} = [⟪0.0⟫; {ARR}];"));
            self.line(&format!("let mut {m} = |{k}: usize, {z}: ℱ| {{"));
            self.line(&format!("    {v} = ⟪0.5⟫ * {v} + ({z} * {e}).sin();"));
            self.line(&format!("    {a}[{k}] += ⟪0.5⟫ * ({z}).tanh();"));
        } else {
            self.line(&format!("let mut {m} = |{z}: ℱ| {{"));
            self.line(&format!("    {v} = ⟪0.5⟫ * {v} + ({z} * {e}).sin();"));
        }
        self.line("};");
        if self.rng.chance(0.35) {
            // Called in a loop: the captured locals are updated once per iteration.
            self.cover("closure_fnmut_in_loop");
            let i = self.fresh("i");
            self.line(&format!("for {i} in 0..n {{"));
            self.ints.push(IntVar {
                name: i.clone(),
                lo: 0,
                hi: N,
            });
            let x = self.bounded(1);
            let j = self.index(1);
            self.ints.pop();
            if with_array {
                self.line(&format!("    {m}({j}, {x});"));
            } else {
                self.line(&format!("    {m}({x});"));
            }
            self.line("}");
        } else {
            for _ in 0..2 + self.rng.below(2) {
                let x = self.bounded(1);
                if with_array {
                    let i = self.index(1);
                    self.line(&format!("{m}({i}, {x});"));
                } else {
                    self.line(&format!("{m}({x});"));
                }
            }
        }
        self.push_float(v, true);
        if with_array {
            self.arrays.push(Var {
                name: a,
                bounded: true,
            });
        }
    }

    // ------------------------------------------------------------ tuples

    /// Registers tuple `name`: its fields `name.0`, `name.1` (bounded floats) and `name.2`
    /// (an index) if `int`.
    fn push_tuple(&mut self, name: String, int: bool) {
        for k in 0..2 {
            self.push_float(format!("{name}.{k}"), true);
        }
        if int {
            self.ints.push(IntVar {
                name: format!("{name}.2"),
                lo: 0,
                hi: ARR,
            });
        }
        self.tuples.push(TupleVar { name, int });
    }

    /// A tuple in scope that no closure captures.
    fn writable_tuple(&mut self) -> Option<TupleVar> {
        let ts: Vec<TupleVar> = self
            .tuples
            .iter()
            .filter(|t| !self.frozen_locals.contains(&t.name))
            .cloned()
            .collect();
        if ts.is_empty() {
            None
        } else {
            Some(ts[self.rng.below(ts.len())].clone())
        }
    }

    /// `let mut t = (a, b)` or `(a, b, i)` with an index `i`.
    fn tuple_let(&mut self, depth: usize) {
        let t = self.fresh("t");
        let (a, b) = (self.bounded(depth.min(1)), self.bounded(depth.min(1)));
        let int = self.rng.chance(0.4);
        if int {
            self.cover("tuple_int_field");
            let i = self.index(1);
            self.line(&format!("let mut {t} = ({a}, {b}, {i});"));
        } else {
            self.line(&format!("let mut {t} = ({a}, {b});"));
        }
        self.push_tuple(t, int);
    }

    /// `let (mut v, _, k) = t;` or `let (mut v, mut w) = (a, b);`.
    fn tuple_destructure(&mut self, depth: usize) {
        let mut names = Vec::new();
        let mut floats = Vec::new();
        let mut int = None;
        let value = if !self.tuples.is_empty() && self.rng.chance(0.7) {
            self.cover("tuple_destructure_var");
            let t = self.tuples[self.rng.below(self.tuples.len())].clone();
            for _ in 0..2 {
                if self.rng.chance(0.25) {
                    names.push("_".to_string());
                } else {
                    let v = self.fresh("v");
                    names.push(format!("mut {v}"));
                    floats.push(v);
                }
            }
            if t.int {
                let k = self.fresh("k");
                names.push(k.clone());
                int = Some(k);
            }
            t.name
        } else {
            let n = 2 + self.rng.below(2);
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(self.bounded(depth.min(1)));
                if self.rng.chance(0.2) {
                    names.push("_".to_string());
                } else {
                    let v = self.fresh("v");
                    names.push(format!("mut {v}"));
                    floats.push(v);
                }
            }
            format!("({})", items.join(", "))
        };
        if names.iter().any(|n| n == "_") {
            self.cover("tuple_wildcard");
        }
        self.line(&format!("let ({}) = {value};", names.join(", ")));
        for v in floats {
            self.push_float(v, true);
        }
        if let Some(k) = int {
            self.ints.push(IntVar {
                name: k,
                lo: 0,
                hi: ARR,
            });
        }
    }

    /// `t.k = ½(t.k + e)`, `t.k *= tanh(e)`, `t.k /= 1 + e²` (keeps the field bounded).
    fn tuple_write(&mut self, depth: usize) {
        let t = self.writable_tuple().expect("checked");
        let f = format!("{}.{}", t.name, self.rng.below(2));
        let e = self.bounded(depth.min(1));
        match self.rng.below(3) {
            0 => self.line(&format!("{f} = ⟪0.5⟫ * ({f} + {e});")),
            1 => {
                self.cover("tanh");
                self.line(&format!("{f} *= ({e}).tanh();"));
            }
            _ => {
                self.cover("div");
                self.line(&format!("{f} /= ⟪1.0⟫ + ({e}) * ({e});"));
            }
        }
    }

    /// `t = (t.1, t.0)` (a swap) or `t = (e, t.0)`, the index field kept.
    fn tuple_swap(&mut self, depth: usize) {
        let t = self.writable_tuple().expect("checked");
        let n = &t.name;
        let first = if self.rng.chance(0.6) {
            format!("{n}.1")
        } else {
            self.bounded(depth.min(1))
        };
        let rest = if t.int {
            format!(", {n}.2")
        } else {
            String::new()
        };
        self.line(&format!("{n} = ({first}, {n}.0{rest});"));
    }

    // ------------------------------------------------------------ sub-slices

    /// The range `start..start + len` of an array of length `ARR`, in one of its spellings.
    fn const_range(&mut self, start: usize, len: usize) -> String {
        let end = start + len;
        let mut opts: Vec<(&'static str, String)> =
            vec![("sub_slice:range", format!("{start}..{end}"))];
        if start == 0 {
            opts.push(("sub_slice:to", format!("..{end}")));
        }
        if end == ARR {
            opts.push(("sub_slice:from", format!("{start}..")));
        }
        if len >= 1 {
            let from = if start == 0 && self.rng.chance(0.5) {
                String::new()
            } else {
                start.to_string()
            };
            opts.push(("sub_slice:inclusive", format!("{from}..={}", end - 1)));
        }
        if start == 0 && end == ARR {
            opts.push(("sub_slice:full", "..".into()));
        }
        let (name, r) = opts.swap_remove(self.rng.below(opts.len()));
        self.cover(name);
        r
    }

    /// Two ranges of one length over arrays of length `ARR`: constant bounds, bounds from an
    /// integer variable (`i..`, `..i`, `ARR - i..`, `i..i + 1`) or from `n`.
    fn range_pair(&mut self) -> (String, String) {
        let vars: Vec<IntVar> = self
            .ints
            .iter()
            .filter(|v| v.name != "n" && v.hi <= ARR && !v.name.contains('.'))
            .cloned()
            .collect();
        let r = self.rng.below(10);
        let (a, b) = if r < 3 && !vars.is_empty() {
            self.cover("sub_slice:var");
            let v = vars[self.rng.below(vars.len())].name.clone();
            match self.rng.below(4) {
                0 => (format!("{v}.."), format!("{v}..")),
                1 => (format!("..{v}"), format!("{ARR} - {v}..")),
                2 => (format!("{v}.."), format!("..{ARR} - {v}")),
                // One element (`v < ARR`).
                _ => (format!("{v}..{v} + 1"), format!("{v}..={v}")),
            }
        } else if r < 4 {
            self.cover("sub_slice:n");
            match self.rng.below(3) {
                0 => ("..n".to_string(), "1..=n".to_string()),
                1 => ("..n".to_string(), format!("{} - n..", ARR)),
                _ => ("0..n".to_string(), "..=n - 1".to_string()),
            }
        } else {
            let len = 1 + self.rng.below(ARR);
            let (s1, s2) = (self.rng.below(ARR - len + 1), self.rng.below(ARR - len + 1));
            (self.const_range(s1, len), self.const_range(s2, len))
        };
        if self.rng.chance(0.5) {
            (b, a)
        } else {
            (a, b)
        }
    }

    /// A slice or bounded local array to take a sub-slice of.
    fn slice_base(&mut self) -> String {
        let arrays = self.visible_arrays(true);
        if arrays.is_empty() || self.rng.chance(0.4) {
            "y".into()
        } else {
            self.cover("sub_slice:local_array");
            arrays[self.rng.below(arrays.len())].clone()
        }
    }

    /// `hsum(&a[r1], &b[r2], x)` over two sub-slices of one length.
    fn slice_call(&mut self, depth: usize) -> String {
        let (r1, r2) = self.range_pair();
        let (a, b) = (self.slice_base(), self.slice_base());
        let x = self.bounded(depth.min(1));
        self.cover("call:hsum");
        format!("hsum§(&{a}[{r1}], &{b}[{r2}], {x})")
    }

    /// The input of a call writing `output`: a sub-slice `&a[r1]` of a slice or bounded local
    /// array other than `output`, or (a quarter of the time) the whole of it, longer than the
    /// output.
    fn call_input(&mut self, r1: &str, output: Option<&Var>) -> String {
        let mut a = self.slice_base();
        if output.is_some_and(|o| o.name == a) {
            a = "y".into();
        }
        if !self.rng.chance(0.25) {
            format!("&{a}[{r1}]")
        } else if a == "y" {
            a
        } else {
            format!("&{a}")
        }
    }

    /// `hout`/`hacc(&a[r1], x, &mut o[r2])` into a fresh array or a writable one (`a` is not
    /// `o`).
    fn slice_call_out(&mut self, depth: usize) {
        let existing = self.writable_array().filter(|_| self.rng.chance(0.7));
        let (r1, r2) = self.range_pair();
        let input = self.call_input(&r1, existing.as_ref());
        // The scalar argument may read the array the call writes (`hout(y, o[1], &mut o)`).
        let x = match &existing {
            Some(o) if !self.allowed("call_out_reads_output") => {
                let hidden: Vec<Var> = self.arrays.clone();
                self.arrays.retain(|a| a.name != o.name);
                let x = self.bounded(depth.min(1));
                self.arrays = hidden;
                x
            }
            _ => self.bounded(depth.min(1)),
        };
        if let Some(o) = &existing {
            let reads = x
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|w| w == o.name);
            if reads {
                self.cover("call_out_reads_output");
            }
        }
        let o = match existing {
            Some(o) => {
                self.cover("sub_slice:mut_existing");
                o.name
            }
            None => {
                let o = self.fresh("a");
                self.line(&format!("let mut {o} = [⟪0.0⟫; {ARR}];"));
                self.arrays.push(Var {
                    name: o.clone(),
                    bounded: true,
                });
                o
            }
        };
        // `hacc` also reads the output (a live array's old values matter to the reverse sweep).
        let f = if self.rng.chance(0.5) {
            "hout"
        } else {
            self.cover("call:hacc");
            "hacc"
        };
        self.line(&format!("{f}§({input}, {x}, &mut {o}[{r2}]);"));
    }

    /// The window iteration `k` of a two-iteration loop writes: `k * 2..k * 2 + 2` (disjoint
    /// windows, covered as `disjoint`) or `k..k + 2` (overlapping the previous iteration's,
    /// covered as `overlap`).
    fn loop_window(&mut self, k: &str, disjoint: &'static str, overlap: &'static str) -> String {
        if self.rng.chance(0.5) {
            self.cover(disjoint);
            format!("{k} * 2..{k} * 2 + 2")
        } else {
            self.cover(overlap);
            format!("{k}..{k} + 2")
        }
    }

    /// Layers stacked in one fresh array that only calls ever see: a loop writes one
    /// sub-slice per iteration (`hout`/`hacc(&y[k..k + 2], x, &mut s[k * 2..k * 2 + 2])`,
    /// disjoint, or `&mut s[k..k + 2]`, overlapping the previous iteration's), then `hsum`
    /// reads it whole. The reverse sweep decides at run time whether a write must be recorded
    /// (`analysis::record`): both outcomes are exercised.
    fn stacked_calls(&mut self, depth: usize) {
        let s = self.fresh("a");
        let k = self.fresh("k");
        let x = self.bounded(depth.min(1));
        let f = if self.rng.chance(0.5) { "hout" } else { "hacc" };
        let out = self.loop_window(&k, "stacked:disjoint", "stacked:overlap");
        self.line(&format!("let mut {s} = [⟪0.0⟫; {ARR}];"));
        self.line(&format!("for {k} in 0..2 {{"));
        self.line(&format!(
            "    {f}§(&y[{k}..{k} + 2], {x}, &mut {s}[{out}]);"
        ));
        self.line("}");
        let v = self.fresh("v");
        let x2 = self.bounded(depth.min(1));
        self.cover("call:hsum");
        self.line(&format!("let mut {v} = hsum§(&{s}[..], y, {x2});"));
        self.push_float(v, true);
    }

    /// A kernel that stashes an intermediate for its own pullback
    /// ([`ferrograd::ArgMode::Stash`]): `hstash` (hand-written pullback reading only the
    /// stash) or `hstash2` (`#[differentiable]`, two `hstash` calls on one stash, so its
    /// parameter is published as a stash). The stash is a fresh array or one an earlier stash
    /// call wrote (whose pullback needs it as that call left it: the caller must restore it),
    /// and nothing else ever reads it. Either one call, `f(&a[r1], x, &mut o[r2], &mut s[r])`
    /// into a fresh or writable output, or one call per loop iteration over windows of one
    /// fresh output, the stash windows disjoint or overlapping.
    fn stash_call(&mut self, depth: usize) {
        let f = if self.rng.chance(0.5) {
            self.cover("call:hstash");
            "hstash"
        } else {
            self.cover("call:hstash2");
            "hstash2"
        };
        let s = if !self.stashes.is_empty() && self.rng.chance(0.5) {
            self.cover("stash:reused");
            self.stashes[self.rng.below(self.stashes.len())].clone()
        } else {
            let s = self.fresh("st");
            self.line(&format!("let mut {s} = [⟪0.0⟫; {ARR}];"));
            self.stashes.push(s.clone());
            s
        };
        if self.rng.chance(0.3) {
            self.cover("stash:in_loop");
            let (o, k) = (self.fresh("a"), self.fresh("k"));
            let x = self.bounded(depth.min(1));
            let window = self.loop_window(&k, "stash:disjoint", "stash:overlap");
            self.line(&format!("let mut {o} = [⟪0.0⟫; {ARR}];"));
            self.line(&format!("for {k} in 0..2 {{"));
            self.line(&format!(
                "    {f}§(&y[{k}..{k} + 2], {x}, &mut {o}[{k} * 2..{k} * 2 + 2], &mut {s}[{window}]);"
            ));
            self.line("}");
            self.arrays.push(Var {
                name: o,
                bounded: true,
            });
            return;
        }
        let existing = self.writable_array().filter(|_| self.rng.chance(0.5));
        let (r1, r2) = self.range_pair();
        let input = self.call_input(&r1, existing.as_ref());
        // May read the output array (a value, before the call borrows it).
        let x = self.bounded(depth.min(1));
        let o = match existing {
            Some(o) => o.name,
            None => {
                let o = self.fresh("a");
                self.line(&format!("let mut {o} = [⟪0.0⟫; {ARR}];"));
                self.arrays.push(Var {
                    name: o.clone(),
                    bounded: true,
                });
                o
            }
        };
        // The stash window: the output's range or the input's (one length).
        let rs = if self.rng.chance(0.5) { &r2 } else { &r1 };
        self.line(&format!(
            "{f}§({input}, {x}, &mut {o}[{r2}], &mut {s}[{rs}]);"
        ));
    }

    fn program(&mut self) {
        let n_stmts = 3 + self.rng.below(5);
        for k in 0..n_stmts {
            if k == 1 && self.allowed("loop") {
                self.cover("loop");
                self.loop_stmt(0);
            } else {
                self.top_stmt(2);
            }
        }
        // Return: the last local mixed with another value, plus a squashed sum of the other
        // locals and one element of every array (so that most of the program is live).
        let floats = visible(&self.floats);
        let last = floats.last().map(|v| v.name.clone()).unwrap_or("x0".into());
        let other = self.any(2);
        let mut ret = match self.rng.below(3) {
            0 => format!("{last} + {other}"),
            1 => format!("({last}).tanh() * {other}"),
            _ => format!("{last} * ⟪0.5⟫ - ({other}).sin()"),
        };
        let mut rest: Vec<String> = floats
            .iter()
            .filter(|v| (v.name.starts_with('v') || v.name.starts_with('t')) && v.name != last)
            .map(|v| v.name.clone())
            .collect();
        for a in visible(&self.arrays) {
            let i = self.index(1);
            rest.push(format!("{}[{i}]", a.name));
        }
        if !rest.is_empty() {
            ret = format!("{ret} + ⟪0.25⟫ * ({}).tanh()", rest.join(" + "));
        }
        self.line(&ret);
    }
}
