//! `#[differentiable(simd)]` / `#[differentiable(simd, parallel)]`: reduction loops outlined
//! into vectorised, optionally multi-threaded calls (issue 16).
//!
//! A top-level loop of the form
//!
//! ```text
//! for xi in x { let z = (xi - mean) / sigma; s -= (w * (-0.5 * z * z).exp()).ln(); }
//! for i in a..b { s += w[i] * (x[i] - mu).powi(2); }
//! ```
//!
//! whose only effect is to add to (or subtract from) one outer accumulator, whose body has
//! no branches, comparisons, calls or loop-carried values (any float primitive of the table
//! may appear: the rules of `abs`, `max`, `min` and `powf` choose by value through
//! `Real::select_lt` and its siblings, not by branching), and whose events are read as the
//! loop element or as `slice[i]`, is rewritten before lowering into
//! `s -= __fg_f_loop0(mean, sigma, w, x)`. The summand becomes a function generic over
//! `Real` (`__fg_f_loop0_body`), differentiated by this same compiler; the call's value,
//! pullback and pushforward are `ferrograd::vloop` drivers that run that generated code on
//! SIMD lanes (`F64x8`, `F32x16`, `Dual<F64x8>` for Hessians) in a fixed reduction tree.
//! The rest of the function is compiled as usual and sees an ordinary differentiable call.
//!
//! With `hessian` and `wrt(..)`, the slices outside `wrt` that only these calls read are the
//! Hessian's constant events ([`constant_events`]); each loop then also gets `_const`
//! variants taking them as plain floats, which the Hessian's sweep calls.
//!
//! What is not vectorised is rejected here, not guessed: a body that branches on lane values
//! would need every lane to agree. Loops that do not qualify stay scalar; `simd` on a function
//! where no loop qualifies is a compile error that says why for each loop.

use crate::prims::{BINARY_METHODS, UNARY_METHODS};
use crate::Options;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use std::collections::HashMap;
use syn::spanned::Spanned;

/// The generic scalar type of outlined bodies.
const SCALAR: &str = "__FgS";

/// The outer function with its qualifying loops replaced by calls, the items those calls
/// need (bodies, their derivatives, drivers), and the Hessian's constant event slices
/// ([`constant_events`]).
pub fn outline(
    opts: &Options,
    item: &syn::ItemFn,
) -> syn::Result<(syn::ItemFn, TokenStream, Vec<syn::Ident>)> {
    let mut out = item.clone();
    let mut extra = TokenStream::new();
    let mut reasons: Vec<syn::Error> = Vec::new();
    let mut loops: Vec<(syn::Ident, Plan)> = Vec::new();
    let slice_params: Vec<String> = item
        .sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            syn::FnArg::Typed(pt) => match (&*pt.pat, &*pt.ty) {
                (syn::Pat::Ident(pi), syn::Type::Reference(r))
                    if matches!(&*r.elem, syn::Type::Slice(_)) && r.mutability.is_none() =>
                {
                    Some(pi.ident.to_string())
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    for stmt in out.block.stmts.iter_mut() {
        let syn::Stmt::Expr(syn::Expr::ForLoop(fl), _) = stmt else {
            continue;
        };
        let generic = !item.sig.generics.params.is_empty();
        match analyse(fl, &slice_params, generic) {
            Ok(plan) => {
                let name = format_ident!("__fg_{}_loop{}", item.sig.ident, loops.len());
                *stmt = syn::parse2(call(&name, &plan))?;
                loops.push((name, plan));
            }
            Err((span, why)) => reasons.push(syn::Error::new(
                span,
                format!("`simd`: this loop stays scalar: {why}"),
            )),
        }
    }
    if loops.is_empty() {
        let mut e = syn::Error::new_spanned(
            &item.sig,
            "`simd`/`parallel`: no loop of this function can be vectorised. A vectorised loop is \
             a top-level `for` over a slice (`for x in xs`, `for i in a..b` reading `s[i]`) whose \
             body has only `let` bindings and `acc += …`/`acc -= …` into one outer accumulator, \
             with arithmetic and the float primitives (no `if`, comparisons or calls)",
        );
        for r in reasons {
            e.combine(r);
        }
        return Err(e);
    }
    let constants = constant_events(opts, item, &out, &loops);
    for (name, plan) in &loops {
        let plain: Option<Vec<bool>> = (!constants.is_empty()).then(|| {
            plan.events
                .iter()
                .map(|ev| constants.contains(&ev.source))
                .collect()
        });
        extra.extend(emit(opts, &item.vis, name, plan, plain.as_deref())?);
    }
    Ok((out, extra, constants))
}

/// The slice parameters that a Hessian can hand to its sweep as they are stored (plain
/// values, no tangents): with `hessian` and `wrt(..)`, the immutable float slices outside
/// `wrt` that the rewritten function uses only as events of its outlined loops (and for their
/// `.len()`). Anything else that reads them would need them as dual numbers, so they are
/// then copied, as before. Decided on the tokens: a parameter whose name appears anywhere
/// else (a shadowing `let`, a field of the same name) is simply not taken.
fn constant_events(
    opts: &Options,
    item: &syn::ItemFn,
    outlined: &syn::ItemFn,
    loops: &[(syn::Ident, Plan)],
) -> Vec<syn::Ident> {
    let Some(wrt) = opts.wrt.as_ref().filter(|_| opts.hessian) else {
        return Vec::new();
    };
    if !item.sig.generics.params.is_empty() {
        return Vec::new();
    }
    let body = outlined.block.to_token_stream();
    item.sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            syn::FnArg::Typed(pt) => match (&*pt.pat, &*pt.ty) {
                (syn::Pat::Ident(pi), syn::Type::Reference(r)) if r.mutability.is_none() => {
                    match &*r.elem {
                        syn::Type::Slice(s)
                            if matches!(&*s.elem, syn::Type::Path(p)
                                if p.path.is_ident("f64") || p.path.is_ident("f32")) =>
                        {
                            Some(pi.ident.clone())
                        }
                        _ => None,
                    }
                }
                _ => None,
            },
            _ => None,
        })
        .filter(|x| !wrt.contains(x))
        .filter(|x| {
            let as_event = loops
                .iter()
                .flat_map(|(_, plan)| &plan.events)
                .filter(|ev| ev.source == *x)
                .count();
            as_event > 0 && uses_besides_len(body.clone(), x) == as_event
        })
        .collect()
}

/// How often `x` appears in `ts`, not counting `x.len()`.
fn uses_besides_len(ts: TokenStream, x: &syn::Ident) -> usize {
    use proc_macro2::TokenTree as Tt;
    let tts: Vec<Tt> = ts.into_iter().collect();
    let mut n = 0;
    for (j, t) in tts.iter().enumerate() {
        match t {
            Tt::Ident(i) if i == x => {
                let len_call = matches!(
                    (tts.get(j + 1), tts.get(j + 2), tts.get(j + 3)),
                    (Some(Tt::Punct(p)), Some(Tt::Ident(m)), Some(Tt::Group(g)))
                        if p.as_char() == '.' && m == "len" && g.stream().is_empty()
                );
                if !len_call {
                    n += 1;
                }
            }
            Tt::Group(g) => n += uses_besides_len(g.stream(), x),
            _ => {}
        }
    }
    n
}

/// One qualifying loop.
struct Plan {
    /// Loop-invariant inputs of the body: (parameter name, argument expression).
    params: Vec<(syn::Ident, TokenStream)>,
    /// Per-event inputs.
    events: Vec<Event>,
    /// The body's statements (over the generic scalar), ending in the summand.
    body: Vec<TokenStream>,
    summand: TokenStream,
    acc: syn::Ident,
    /// `acc -= call` (every reduction subtracts) rather than `acc += call`.
    subtract: bool,
}

/// One per-event input of a loop.
struct Event {
    /// The body's parameter.
    name: syn::Ident,
    /// The slice argument of the call (`x`, `&x[..]`, `&x[(a)..(b)]`).
    arg: TokenStream,
    /// The slice it reads (`x`).
    source: syn::Ident,
}

type Reject = (Span, String);

struct Scan<'a> {
    /// The loop's element variable (`for xi in x`) or index (`for i in a..b`).
    var: syn::Ident,
    /// `for i in a..b`: slices indexed by `i` become events, cut to `a..b`.
    range: Option<(TokenStream, TokenStream)>,
    locals: Vec<String>,
    acc: Option<syn::Ident>,
    params: Vec<(syn::Ident, TokenStream)>,
    param_names: HashMap<String, usize>,
    events: Vec<Event>,
    event_of_slice: HashMap<String, usize>,
    consts: usize,
    slice_params: &'a [String],
    /// The function is generic over `T: Real` (no bare float literals outside the body).
    generic_out: bool,
}

fn analyse(
    fl: &syn::ExprForLoop,
    slice_params: &[String],
    generic_out: bool,
) -> Result<Plan, Reject> {
    let bad = |s: Span, m: &str| Err((s, m.to_string()));
    if fl.label.is_some() {
        return bad(fl.span(), "labelled loops are not vectorised");
    }
    let (var, range, whole) = match (&*fl.pat, &*fl.expr) {
        (syn::Pat::Ident(pi), syn::Expr::Range(r)) if pi.by_ref.is_none() => {
            let (Some(a), Some(b), syn::RangeLimits::HalfOpen(_)) = (&r.start, &r.end, &r.limits)
            else {
                return bad(r.span(), "the range must be `a..b`");
            };
            (
                pi.ident.clone(),
                Some((a.to_token_stream(), b.to_token_stream())),
                None,
            )
        }
        (pat, it) => {
            let ident = match pat {
                syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    pi.ident.clone()
                }
                syn::Pat::Reference(r) => match &*r.pat {
                    syn::Pat::Ident(pi) => pi.ident.clone(),
                    _ => return bad(pat.span(), "the loop pattern must be `x` or `&x`"),
                },
                _ => return bad(pat.span(), "the loop pattern must be `x` or `&x`"),
            };
            let slice = match it {
                syn::Expr::Path(p) if p.path.get_ident().is_some() => p.path.get_ident().cloned(),
                syn::Expr::MethodCall(m) if m.method == "iter" && m.args.is_empty() => {
                    match &*m.receiver {
                        syn::Expr::Path(p) => p.path.get_ident().cloned(),
                        _ => None,
                    }
                }
                _ => None,
            };
            let Some(slice) = slice else {
                return bad(
                    it.span(),
                    "only loops over a slice (`for x in xs`, `xs.iter()`) or a range are vectorised",
                );
            };
            (ident, None, Some(slice))
        }
    };
    let mut sc = Scan {
        var: var.clone(),
        range,
        locals: Vec::new(),
        acc: None,
        params: Vec::new(),
        param_names: HashMap::new(),
        events: Vec::new(),
        event_of_slice: HashMap::new(),
        consts: 0,
        slice_params,
        generic_out,
    };
    if let Some(s) = &whole {
        let arg = if sc.slice_params.contains(&s.to_string()) {
            quote!(#s)
        } else {
            quote!(&#s[..])
        };
        sc.events.push(Event {
            name: var.clone(),
            arg,
            source: s.clone(),
        });
    }
    let mut body = Vec::new();
    let mut terms: Vec<(bool, syn::Ident)> = Vec::new();
    for st in &fl.body.stmts {
        match st {
            syn::Stmt::Local(l) => {
                let (ident, ty) = match &l.pat {
                    syn::Pat::Ident(pi) if pi.mutability.is_none() && pi.by_ref.is_none() => {
                        (pi.ident.clone(), None)
                    }
                    syn::Pat::Type(pt) => match &*pt.pat {
                        syn::Pat::Ident(pi) if pi.mutability.is_none() => {
                            (pi.ident.clone(), Some(&pt.ty))
                        }
                        _ => return bad(l.pat.span(), "only `let name = …` bindings"),
                    },
                    _ => return bad(l.pat.span(), "only `let name = …` bindings (not `mut`)"),
                };
                if let Some(ty) = ty {
                    let t = ty.to_token_stream().to_string();
                    if t != "f64" && t != "f32" {
                        return bad(ty.span(), "a body local must be a float");
                    }
                }
                let Some(init) = &l.init else {
                    return bad(l.span(), "a body local needs a value");
                };
                if init.diverge.is_some() {
                    return bad(l.span(), "`let … else` is not vectorised");
                }
                let e = sc.expr(&init.expr)?;
                sc.locals.push(ident.to_string());
                body.push(quote!(let #ident = #e;));
            }
            syn::Stmt::Expr(syn::Expr::Binary(b), Some(_))
                if matches!(b.op, syn::BinOp::AddAssign(_) | syn::BinOp::SubAssign(_)) =>
            {
                let syn::Expr::Path(p) = &*b.left else {
                    return bad(b.left.span(), "only a scalar accumulator `acc += …`");
                };
                let Some(acc) = p.path.get_ident() else {
                    return bad(b.left.span(), "only a scalar accumulator `acc += …`");
                };
                if sc.locals.contains(&acc.to_string()) || *acc == sc.var {
                    return bad(
                        acc.span(),
                        "the accumulator must be defined before the loop",
                    );
                }
                match &sc.acc {
                    Some(a) if a != acc => {
                        return bad(
                            acc.span(),
                            "a vectorised loop reduces into one accumulator (split the loop)",
                        )
                    }
                    _ => sc.acc = Some(acc.clone()),
                }
                let e = sc.expr(&b.right)?;
                let t = format_ident!("__fg_term{}", terms.len());
                body.push(quote!(let #t = #e;));
                terms.push((matches!(b.op, syn::BinOp::SubAssign(_)), t));
            }
            other => {
                return bad(
                    other.span(),
                    "only `let` bindings and `acc += …`/`acc -= …` statements",
                )
            }
        }
    }
    let Some(acc) = sc.acc.clone() else {
        return bad(fl.span(), "the loop does not reduce into an accumulator");
    };
    if sc.events.is_empty() {
        return bad(
            fl.span(),
            "the loop reads no event (`slice[i]` with the loop index)",
        );
    }
    let subtract = terms.iter().all(|(neg, _)| *neg);
    let mut summand = TokenStream::new();
    for (j, (neg, t)) in terms.iter().enumerate() {
        let op = match (j, *neg && !subtract) {
            (0, false) => quote!(),
            (0, true) => quote!(-),
            (_, false) => quote!(+),
            (_, true) => quote!(-),
        };
        summand.extend(quote!(#op #t));
    }
    Ok(Plan {
        params: sc.params,
        events: sc.events,
        body,
        summand,
        acc,
        subtract,
    })
}

impl Scan<'_> {
    /// Does `e` mention the loop variable, a body local, or the accumulator?
    fn varies(&self, e: &syn::Expr) -> bool {
        let mut v = false;
        let names: Vec<String> = self
            .locals
            .iter()
            .cloned()
            .chain([self.var.to_string()])
            .chain(self.acc.iter().map(|a| a.to_string()))
            .collect();
        visit_idents(e.to_token_stream(), &mut |id| {
            v |= names.iter().any(|n| n == id)
        });
        v
    }

    fn is_const(e: &syn::Expr) -> bool {
        match e {
            syn::Expr::Lit(l) => matches!(l.lit, syn::Lit::Float(_) | syn::Lit::Int(_)),
            syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => Self::is_const(&u.expr),
            syn::Expr::Paren(p) => Self::is_const(&p.expr),
            syn::Expr::Binary(b) => Self::is_const(&b.left) && Self::is_const(&b.right),
            _ => false,
        }
    }

    /// A loop-invariant value passed in as a parameter of the body.
    fn hoist(&mut self, e: &syn::Expr) -> TokenStream {
        if let syn::Expr::Path(p) = e {
            if let Some(id) = p.path.get_ident() {
                let key = id.to_string();
                if !self.param_names.contains_key(&key) {
                    self.param_names.insert(key, self.params.len());
                    self.params.push((id.clone(), quote!(#id)));
                }
                return quote!(#id);
            }
        }
        let key = e.to_token_stream().to_string();
        if let Some(&j) = self.param_names.get(&key) {
            let id = &self.params[j].0;
            return quote!(#id);
        }
        let id = format_ident!("__fg_inv{}", self.consts);
        self.consts += 1;
        self.param_names.insert(key, self.params.len());
        self.params.push((id.clone(), quote!((#e))));
        quote!(#id)
    }

    /// `e` over the generic scalar, or why it cannot be vectorised.
    fn expr(&mut self, e: &syn::Expr) -> Result<TokenStream, Reject> {
        let s = format_ident!("{}", SCALAR);
        if Self::is_const(e) {
            return Ok(self.constant(e));
        }
        if !self.varies(e) {
            return match e {
                syn::Expr::Path(_)
                | syn::Expr::Field(_)
                | syn::Expr::Index(_)
                | syn::Expr::Paren(_)
                | syn::Expr::Binary(_)
                | syn::Expr::Unary(_)
                | syn::Expr::MethodCall(_)
                | syn::Expr::Cast(_) => Ok(self.hoist(e)),
                other => Err((
                    other.span(),
                    "this loop-invariant expression is not vectorised".into(),
                )),
            };
        }
        let bad = |sp: Span, m: &str| Err((sp, m.to_string()));
        match e {
            syn::Expr::Paren(p) => {
                let i = self.expr(&p.expr)?;
                Ok(quote!((#i)))
            }
            syn::Expr::Path(p) => {
                let Some(id) = p.path.get_ident() else {
                    return bad(p.span(), "unexpected path");
                };
                if *id == self.var && self.range.is_some() {
                    return bad(id.span(), "the loop index is used only as `slice[i]`");
                }
                if self.acc.as_ref() == Some(id) {
                    return bad(
                        id.span(),
                        "the accumulator is read inside the loop (a loop-carried value)",
                    );
                }
                Ok(quote!(#id))
            }
            syn::Expr::Unary(u) => match u.op {
                syn::UnOp::Neg(_) => {
                    let i = self.expr(&u.expr)?;
                    Ok(quote!(-#i))
                }
                syn::UnOp::Deref(_) => match &*u.expr {
                    syn::Expr::Path(p) if p.path.get_ident() == Some(&self.var) => {
                        let v = &self.var;
                        Ok(quote!(#v))
                    }
                    _ => bad(u.span(), "only the loop element may be dereferenced"),
                },
                _ => bad(u.span(), "this operator is not vectorised"),
            },
            syn::Expr::Binary(b) => {
                use syn::BinOp::*;
                let op =
                    match b.op {
                        Add(_) => quote!(+),
                        Sub(_) => quote!(-),
                        Mul(_) => quote!(*),
                        Div(_) => quote!(/),
                        _ => return bad(
                            b.op.span(),
                            "only `+ - * /` are vectorised (a comparison would branch per lane)",
                        ),
                    };
                if matches!(b.op, Div(_))
                    && !self.generic_out
                    && !self.varies(&b.right)
                    && !Self::is_const(&b.right)
                {
                    // `x / sigma` with a loop-invariant `sigma` becomes `x * (1 / sigma)`, the
                    // reciprocal computed once outside the loop (and differentiated there): a
                    // division costs ~16 cycles per 8 lanes, a multiplication one.
                    let rhs = &b.right;
                    let recip: syn::Expr = syn::parse_quote!((1.0 / (#rhs)));
                    let l = self.expr(&b.left)?;
                    let r = self.hoist(&recip);
                    return Ok(quote!(#l * #r));
                }
                let (l, r) = (self.expr(&b.left)?, self.expr(&b.right)?);
                Ok(quote!(#l #op #r))
            }
            syn::Expr::Index(ix) => {
                let (syn::Expr::Path(sp), syn::Expr::Path(ip)) = (&*ix.expr, &*ix.index) else {
                    return bad(ix.span(), "only `slice[i]` with the loop index");
                };
                let (Some(slice), Some(idx)) = (sp.path.get_ident(), ip.path.get_ident()) else {
                    return bad(ix.span(), "only `slice[i]` with the loop index");
                };
                let Some((a, b)) = self.range.clone() else {
                    return bad(ix.span(), "indexing by a varying value");
                };
                if *idx != self.var || self.locals.contains(&slice.to_string()) {
                    return bad(ix.span(), "only `slice[i]` with the loop index");
                }
                let key = slice.to_string();
                let k = match self.event_of_slice.get(&key) {
                    Some(&k) => k,
                    None => {
                        let k = self.events.len();
                        let id = format_ident!("__fg_ev{}", k);
                        self.events.push(Event {
                            name: id,
                            arg: quote!(&#slice[(#a)..(#b)]),
                            source: slice.clone(),
                        });
                        self.event_of_slice.insert(key, k);
                        k
                    }
                };
                let id = &self.events[k].name;
                Ok(quote!(#id))
            }
            syn::Expr::MethodCall(m) => {
                let name = m.method.to_string();
                let recv = self.expr(&m.receiver)?;
                let method = &m.method;
                if m.turbofish.is_some() {
                    return bad(m.span(), "turbofish calls are not vectorised");
                }
                match (name.as_str(), m.args.len()) {
                    // Every primitive of the table: its rule selects by value
                    // (`Real::select_lt`, …) instead of branching, so it is exact lane by lane.
                    (n, 0) if UNARY_METHODS.contains(&n) => Ok(quote!((#recv).#method())),
                    (n, 1) if BINARY_METHODS.contains(&n) => {
                        let a = self.expr(&m.args[0])?;
                        Ok(quote!((#recv).#method(#a)))
                    }
                    ("powi", 1) if !self.varies(&m.args[0]) => {
                        let a = &m.args[0];
                        Ok(quote!((#recv).powi(#a)))
                    }
                    ("mul_add", 2) => {
                        let a = self.expr(&m.args[0])?;
                        let b = self.expr(&m.args[1])?;
                        Ok(quote!((#recv).mul_add(#a, #b)))
                    }
                    _ => bad(
                        m.method.span(),
                        &format!("`{name}` is not a vectorised primitive"),
                    ),
                }
            }
            syn::Expr::Lit(_) => Ok(self.constant(e)),
            other => {
                let _ = s;
                bad(other.span(), "this expression is not vectorised")
            }
        }
    }

    /// A constant expression with its float literals converted to the generic scalar.
    fn constant(&self, e: &syn::Expr) -> TokenStream {
        let s = format_ident!("{}", SCALAR);
        match e {
            syn::Expr::Lit(l) => match &l.lit {
                syn::Lit::Float(f) => {
                    // Without its suffix (`0.25_f32` in an `f32` function): `from_f64` takes
                    // the value, the lane type rounds it to its own precision.
                    let f = syn::LitFloat::new(f.base10_digits(), f.span());
                    quote!(#s::from_f64(#f))
                }
                syn::Lit::Int(i) => {
                    let v = i.base10_digits();
                    let f = syn::LitFloat::new(&format!("{v}.0"), i.span());
                    quote!(#s::from_f64(#f))
                }
                _ => l.to_token_stream(),
            },
            syn::Expr::Unary(u) => {
                let i = self.constant(&u.expr);
                quote!(-#i)
            }
            syn::Expr::Paren(p) => {
                let i = self.constant(&p.expr);
                quote!((#i))
            }
            syn::Expr::Binary(b) => {
                let (l, r) = (self.constant(&b.left), self.constant(&b.right));
                let op = &b.op;
                quote!(#l #op #r)
            }
            other => other.to_token_stream(),
        }
    }
}

fn visit_idents(ts: TokenStream, f: &mut impl FnMut(&str)) {
    for t in ts {
        match t {
            proc_macro2::TokenTree::Ident(i) => f(&i.to_string()),
            proc_macro2::TokenTree::Group(g) => visit_idents(g.stream(), f),
            _ => {}
        }
    }
}

/// The statement replacing the loop: `acc += name(params…, events…);`.
fn call(name: &syn::Ident, plan: &Plan) -> TokenStream {
    let pargs = plan.params.iter().map(|(_, a)| a);
    let eargs = plan.events.iter().map(|ev| &ev.arg);
    let acc = &plan.acc;
    let op = if plan.subtract {
        quote!(-=)
    } else {
        quote!(+=)
    };
    quote!(#acc #op #name(#(#pargs,)* #(#eargs),*);)
}

/// The items behind a loop's call. `plain`: where the function has constant event slices
/// (`constant_events`), which of this loop's events they are; the loop then also gets the
/// `_const` variants that the Hessian's sweep calls, taking those events as plain values.
fn emit(
    opts: &Options,
    vis: &syn::Visibility,
    name: &syn::Ident,
    plan: &Plan,
    plain: Option<&[bool]>,
) -> syn::Result<TokenStream> {
    let s = format_ident!("{}", SCALAR);
    let body_name = format_ident!("{}_body", name);
    let ty_name = format_ident!("{}_Body", name);
    let pnames: Vec<&syn::Ident> = plan.params.iter().map(|(i, _)| i).collect();
    let enames: Vec<&syn::Ident> = plan.events.iter().map(|ev| &ev.name).collect();
    let all: Vec<&syn::Ident> = pnames.iter().chain(enames.iter()).copied().collect();
    let body_stmts = &plan.body;
    let summand = &plan.summand;
    let body_fn: syn::ItemFn = syn::parse2(quote! {
        #[doc(hidden)]
        #[inline(always)]
        #[allow(non_snake_case, clippy::all)]
        #vis fn #body_name<#s: ::ferrograd::__private::Real>(#(#all: #s),*) -> #s {
            #(#body_stmts)*
            #summand
        }
    })?;
    let body_opts = Options::default();
    let derived = crate::generate(&body_opts, &body_fn)?;
    let derived = inline_always(derived)?;

    let np = plan.params.len();
    let ne = plan.events.len();
    let pull = format_ident!("{}_body_pullback", name);
    let push = format_ident!("{}_body_pushforward", name);
    let grad = format_ident!("{}_body_grad", name);
    let vpull_name = format_ident!("{}_value_pullback", name);
    let gen_vpull = format_ident!("__fg_{}_value_pullback_generic", name);
    let pi = (0..np).map(syn::Index::from).collect::<Vec<_>>();
    let ei = (0..ne).map(syn::Index::from).collect::<Vec<_>>();
    let dps: Vec<syn::Ident> = (0..np).map(|j| format_ident!("__fg_dp{}", j)).collect();
    let des: Vec<syn::Ident> = (0..ne).map(|j| format_ident!("__fg_de{}", j)).collect();
    let parallel = opts.parallel;
    let t = format_ident!("__FgT");
    let d_p: Vec<syn::Ident> = pnames.iter().map(|p| format_ident!("d_{}", p)).collect();
    let d_e: Vec<syn::Ident> = enames.iter().map(|p| format_ident!("d_{}", p)).collect();
    let t_p: Vec<syn::Ident> = pnames.iter().map(|p| format_ident!("t_{}", p)).collect();
    let t_e: Vec<syn::Ident> = enames.iter().map(|p| format_ident!("t_{}", p)).collect();
    let pull_name = format_ident!("{}_pullback", name);
    let push_name = format_ident!("{}_pushforward", name);
    let modes_name = format_ident!("{}_ARG_MODES", name);
    let gen_name = format_ident!("__fg_{}_generic", name);
    let gen_pull = format_ident!("__fg_{}_pullback_generic", name);
    let n_args = np + ne;
    let attrs = quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, non_camel_case_types, non_upper_case_globals, dead_code, clippy::all)]
    };
    let items = quote! {
        #body_fn
        #derived
        #attrs
        #vis struct #ty_name;
        #attrs
        impl ::ferrograd::__private::vloop::LoopBody<#np, #ne> for #ty_name {
            #[inline(always)]
            fn value<W: ::ferrograd::__private::Real>(&self, p: &[W; #np], e: &[W; #ne]) -> W {
                #body_name(#(p[#pi],)* #(e[#ei]),*)
            }
            #[inline(always)]
            fn pullback<W: ::ferrograd::__private::Real>(
                &self, p: &[W; #np], e: &[W; #ne], d: W, dp: &mut [W; #np], de: &mut [W; #ne],
            ) {
                let [#(#dps),*] = dp;
                let [#(#des),*] = de;
                #pull(#(p[#pi],)* #(e[#ei],)* d, #(#dps,)* #(#des),*)
            }
            #[inline(always)]
            fn value_grad<W: ::ferrograd::__private::Real>(
                &self, p: &[W; #np], e: &[W; #ne], dp: &mut [W; #np], de: &mut [W; #ne],
            ) -> W {
                let [#(#dps),*] = dp;
                let [#(#des),*] = de;
                #grad(#(p[#pi],)* #(e[#ei],)* #(#dps,)* #(#des),*)
            }
            #[inline(always)]
            fn pushforward<W: ::ferrograd::__private::Real>(
                &self, p: &[W; #np], e: &[W; #ne], tp: &[W; #np], te: &[W; #ne],
            ) -> (W, W) {
                #push(#(p[#pi],)* #(e[#ei],)* #(tp[#pi],)* #(te[#ei]),*)
            }
        }
        #attrs
        #[inline]
        #vis fn #name<#t: ::ferrograd::__private::Real>(#(#pnames: #t,)* #(#enames: &[#t]),*) -> #t {
            ::ferrograd::__private::vloop::value(&#ty_name, [#(#pnames),*], [#(#enames),*], #parallel)
        }
        #attrs
        #[inline]
        #vis fn #pull_name<#t: ::ferrograd::__private::Real>(
            #(#pnames: #t,)* #(#enames: &[#t],)* d_ret: #t,
            #(#d_p: &mut #t,)* #(#d_e: &mut [#t]),*
        ) {
            ::ferrograd::__private::vloop::pullback(
                &#ty_name, [#(#pnames),*], [#(#enames),*], d_ret, [#(#d_p),*], [#(#d_e),*], #parallel,
            )
        }
        #attrs
        #[inline]
        #vis fn #vpull_name<#t: ::ferrograd::__private::Real>(
            #(#pnames: #t,)* #(#enames: &[#t],)* d_ret: #t,
            #(#d_p: &mut #t,)* #(#d_e: &mut [#t]),*
        ) -> #t {
            ::ferrograd::__private::vloop::value_pullback(
                &#ty_name, [#(#pnames),*], [#(#enames),*], d_ret, [#(#d_p),*], [#(#d_e),*], #parallel,
            )
        }
        #attrs
        #[inline]
        #vis fn #gen_vpull<#t: ::ferrograd::__private::Real>(
            #(#pnames: #t,)* #(#enames: &[#t],)* d_ret: #t,
            #(#d_p: &mut #t,)* #(#d_e: &mut [#t]),*
        ) -> #t {
            #vpull_name(#(#pnames,)* #(#enames,)* d_ret, #(#d_p,)* #(#d_e),*)
        }
        #attrs
        #[inline]
        #vis fn #push_name<#t: ::ferrograd::__private::Real>(
            #(#pnames: #t,)* #(#enames: &[#t],)* #(#t_p: #t,)* #(#t_e: &[#t]),*
        ) -> (#t, #t) {
            ::ferrograd::__private::vloop::pushforward(
                &#ty_name, [#(#pnames),*], [#(#enames),*], [#(#t_p),*], [#(#t_e),*], #parallel,
            )
        }
        #attrs
        #vis const #modes_name: &[::ferrograd::__private::ArgMode] = &[::ferrograd::__private::ArgMode::In; #n_args];
        #attrs
        #[inline]
        #vis fn #gen_name<#t: ::ferrograd::__private::Real>(#(#pnames: #t,)* #(#enames: &[#t]),*) -> #t {
            #name(#(#pnames,)* #(#enames),*)
        }
        #attrs
        #[inline]
        #vis fn #gen_pull<#t: ::ferrograd::__private::Real>(
            #(#pnames: #t,)* #(#enames: &[#t],)* d_ret: #t,
            #(#d_p: &mut #t,)* #(#d_e: &mut [#t]),*
        ) {
            #pull_name(#(#pnames,)* #(#enames,)* d_ret, #(#d_p,)* #(#d_e),*)
        }
    };
    let Some(plain) = plain else {
        return Ok(items);
    };
    // The `_const` variants: the events at `plain` typed `&[Plain<T>]`, read through
    // `vloop::WithPlain` (bit k of the mask: event k is plain).
    let mask = plain
        .iter()
        .enumerate()
        .fold(0u64, |m, (k, &p)| if p { m | 1 << k } else { m });
    let mask = syn::LitInt::new(&format!("{mask}u64"), Span::call_site());
    let ety: Vec<TokenStream> = plain
        .iter()
        .map(|&p| {
            if p {
                quote!(&[::ferrograd::__private::Plain<#t>])
            } else {
                quote!(&[#t])
            }
        })
        .collect();
    let lifted = enames
        .iter()
        .zip(plain)
        .map(|(e, &p)| if p { quote!(&[]) } else { quote!(#e) });
    let plains = enames
        .iter()
        .zip(plain)
        .map(|(e, &p)| if p { quote!(#e) } else { quote!(&[]) });
    let events = quote! {
        ::ferrograd::__private::vloop::WithPlain::<#t, #ne, #mask>::new(
            [#(#lifted),*], [#(#plains),*],
        )
    };
    let const_name = format_ident!("__fg_{}_const_generic", name);
    let const_pull = format_ident!("__fg_{}_pullback_const_generic", name);
    let const_vpull = format_ident!("__fg_{}_value_pullback_const_generic", name);
    Ok(quote! {
        #items
        #attrs
        #[inline]
        #vis fn #const_name<#t: ::ferrograd::__private::Real>(
            #(#pnames: #t,)* #(#enames: #ety),*
        ) -> #t {
            ::ferrograd::__private::vloop::value(&#ty_name, [#(#pnames),*], #events, #parallel)
        }
        #attrs
        #[inline]
        #vis fn #const_pull<#t: ::ferrograd::__private::Real>(
            #(#pnames: #t,)* #(#enames: #ety,)* d_ret: #t,
            #(#d_p: &mut #t,)* #(#d_e: &mut [#t]),*
        ) {
            ::ferrograd::__private::vloop::pullback(
                &#ty_name, [#(#pnames),*], #events, d_ret, [#(#d_p),*], [#(#d_e),*], #parallel,
            )
        }
        #attrs
        #[inline]
        #vis fn #const_vpull<#t: ::ferrograd::__private::Real>(
            #(#pnames: #t,)* #(#enames: #ety,)* d_ret: #t,
            #(#d_p: &mut #t,)* #(#d_e: &mut [#t]),*
        ) -> #t {
            ::ferrograd::__private::vloop::value_pullback(
                &#ty_name, [#(#pnames),*], #events, d_ret, [#(#d_p),*], [#(#d_e),*], #parallel,
            )
        }
    })
}

/// Every generated function of an outlined body marked `#[inline(always)]`: the drivers run
/// them inside functions compiled for AVX-512/AVX2, which only helps if they are inlined there.
fn inline_always(ts: TokenStream) -> syn::Result<TokenStream> {
    let mut file: syn::File = syn::parse2(ts)?;
    for it in &mut file.items {
        if let syn::Item::Fn(f) = it {
            f.attrs.retain(|a| !a.path().is_ident("inline"));
            f.attrs.push(syn::parse_quote!(#[inline(always)]));
            f.attrs.push(syn::parse_quote!(#[allow(dead_code)]));
        }
    }
    Ok(file.into_token_stream())
}
