//! Struct parameters and methods: `fn nll(p: &Gauss, x: &[f64]) -> f64` and
//! `fn logpdf(&self, x: f64) -> f64` (issue: "the AD compiler's second step").
//!
//! A proc-macro sees the function, never the definition of `Gauss`. So, before lowering, this
//! stage reads from the body which fields of each struct parameter are floats (a field read in
//! float arithmetic, indexed into for a float, iterated over into floats) and rewrites the
//! function into a *flat* one, `__fg_nll_fields(p, p__mu, p__w, x)`, where every float field
//! path is a plain `f64`/`&[f64]` parameter. The flat function goes through the unchanged
//! pipeline; thin wrappers with the user's names then pass fields in and field adjoints out:
//! `nll_grad(p, x, d_p: &mut Gauss, d_x)` calls `__fg_nll_fields_grad(p, p.mu, &p.w[..], x,
//! &mut d_p.mu, &mut d_p.w[..], d_x)`. Adjoints are added into `d_p` (the contract of every
//! adjoint); `ferrograd::Differentiable::zero_like` gives a zeroed one of the right shape.
//!
//! Fields the body does not use as floats (loop bounds, indices, sizes handed to kernels) stay
//! reads of the struct, which the flat function keeps as a pass-through parameter. Both
//! guesses are checked by rustc: a float-taken field is passed where a float is expected, and
//! every other field whose value is read goes through `ferrograd::structs::field_probe`, which
//! does not compile for a float type. A wrong guess is a compile error, never a silent zero.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use std::collections::{BTreeMap, HashMap, HashSet};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;

/// The inert attribute that marks, in the flat function, a struct parameter kept whole for
/// calls (`ir::Ty::Struct`); removed before the flat function is emitted.
pub const WHOLE_STRUCT: &str = "ferrograd_whole_struct";

/// A struct-typed parameter (`p: &S`) or the receiver (`&self`).
struct StructParam {
    /// `p`, or `self` for the receiver.
    name: String,
    /// `&S` as written (`&Self` for the receiver).
    ty: syn::Type,
    /// Position in the signature's inputs.
    input: usize,
}

/// How the body uses one field path `p.a.b`.
#[derive(Default, Clone)]
struct Usage {
    span: Option<Span>,
    /// Its value is read in float arithmetic (or where a float is expected).
    scalar_float: bool,
    /// Its value is read where an integer is expected (a loop bound, an index).
    scalar_int: bool,
    /// Its value is read where the syntax does not tell (a call argument).
    scalar_unknown: bool,
    /// Indexed, iterated, `.len()`, or borrowed: a slice-like field (`Vec`, array).
    slice: bool,
    /// An element is read as a float.
    elem_float: bool,
    /// An element is read as an integer.
    elem_int: bool,
    /// An element is read where the syntax does not tell.
    elem_unknown: bool,
    /// `&p.a` handed on whole (a call argument).
    borrowed: bool,
    /// Iterated over (`for x in &p.a`, `p.a.iter()`).
    iterated: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Float,
    Int,
    Unknown,
}

impl Class {
    fn or(self, other: Class) -> Class {
        if self == Class::Unknown {
            other
        } else {
            self
        }
    }
}

type Key = (usize, Vec<String>);

/// What the body makes of each float field path, and the flat parameter it becomes.
#[derive(Clone)]
struct FlatField {
    root: usize,
    members: Vec<syn::Member>,
    slice: bool,
    ident: syn::Ident,
    span: Span,
}

/// The float type of the function: the return type, else the first float parameter.
fn float_type(sig: &syn::Signature) -> Option<syn::Type> {
    fn scalar(ty: &syn::Type, generic: Option<&syn::Ident>) -> Option<syn::Type> {
        match ty {
            syn::Type::Path(p) if p.qself.is_none() => {
                let id = p.path.get_ident();
                if id.is_some_and(|i| i == "f64" || i == "f32" || Some(i) == generic) {
                    return Some(ty.clone());
                }
                let last = p.path.segments.last()?;
                if last.ident == "Result" {
                    if let syn::PathArguments::AngleBracketed(a) = &last.arguments {
                        if let Some(syn::GenericArgument::Type(t)) = a.args.first() {
                            return scalar(t, generic);
                        }
                    }
                }
                None
            }
            syn::Type::Reference(r) => match &*r.elem {
                syn::Type::Slice(s) => scalar(&s.elem, generic),
                _ => None,
            },
            _ => None,
        }
    }
    let generic = sig.generics.params.iter().find_map(|g| match g {
        syn::GenericParam::Type(t) => Some(&t.ident),
        _ => None,
    });
    if let syn::ReturnType::Type(_, t) = &sig.output {
        if let Some(f) = scalar(t, generic) {
            return Some(f);
        }
    }
    sig.inputs.iter().find_map(|a| match a {
        syn::FnArg::Typed(pt) => scalar(&pt.ty, generic),
        _ => None,
    })
}

fn is_float_ty(ty: &syn::Type, generic: Option<&str>) -> bool {
    matches!(ty, syn::Type::Path(p) if p.qself.is_none()
        && p.path.get_ident().is_some_and(|i| i == "f64" || i == "f32" || Some(i.to_string().as_str()) == generic))
}

fn is_int_ty(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.get_ident().is_some_and(|i| matches!(
        i.to_string().as_str(),
        "usize" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128" | "i8" | "i16" | "i32" | "i64" | "i128"
    )))
}

/// `&S` for a struct-like `S`: a path that is not a float, integer, `bool`, `Tensor` or the
/// generic scalar, and mentions no float (those are slices or plain values).
fn is_struct_ref(ty: &syn::Type, generic: Option<&str>) -> bool {
    let syn::Type::Reference(r) = ty else {
        return false;
    };
    if r.mutability.is_some() {
        return false;
    }
    let syn::Type::Path(p) = &*r.elem else {
        return false;
    };
    if p.qself.is_some() || is_float_ty(&r.elem, generic) || is_int_ty(&r.elem) {
        return false;
    }
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    let name = last.ident.to_string();
    !matches!(name.as_str(), "bool" | "Tensor" | "str" | "String")
        && !r
            .elem
            .to_token_stream()
            .into_iter()
            .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "f64" || i == "f32"))
}

/// The field path `p.a.b` of `e`, if `e` is one rooted at a struct parameter.
fn chain_of(e: &syn::Expr, structs: &[StructParam]) -> Option<(usize, Vec<syn::Member>)> {
    let mut members = Vec::new();
    let mut cur = e;
    loop {
        match cur {
            syn::Expr::Field(f) => {
                members.push(f.member.clone());
                cur = &f.base;
            }
            syn::Expr::Paren(p) => cur = &p.expr,
            syn::Expr::Path(p) if p.qself.is_none() && members.is_empty() => return None,
            syn::Expr::Path(p) if p.qself.is_none() => {
                let id = p.path.get_ident()?.to_string();
                let k = structs.iter().position(|s| s.name == id)?;
                members.reverse();
                return Some((k, members));
            }
            _ => return None,
        }
    }
}

fn member_name(m: &syn::Member) -> String {
    match m {
        syn::Member::Named(i) => i.to_string(),
        syn::Member::Unnamed(i) => i.index.to_string(),
    }
}

fn key_of(root: usize, members: &[syn::Member]) -> Key {
    (root, members.iter().map(member_name).collect())
}

fn root_of(e: &syn::Expr, structs: &[StructParam]) -> Option<usize> {
    match e {
        syn::Expr::Path(p) if p.qself.is_none() => {
            let id = p.path.get_ident()?.to_string();
            structs.iter().position(|s| s.name == id)
        }
        syn::Expr::Paren(p) => root_of(&p.expr, structs),
        _ => None,
    }
}

const FLOAT_ONLY_METHODS: &[&str] = &[
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
    "ln_1p",
    "log2",
    "log10",
    "log",
    "sqrt",
    "cbrt",
    "powf",
    "powi",
    "atan2",
    "hypot",
    "recip",
    "floor",
    "ceil",
    "round",
    "trunc",
    "fract",
    "mul_add",
    "to_degrees",
    "to_radians",
];
const BINARY_FLOAT_METHODS: &[&str] = &["powf", "atan2", "hypot", "max", "min", "log", "copysign"];

/// Type and use inference over the body (syntactic, to a fixpoint of three passes).
struct Infer<'a> {
    structs: &'a [StructParam],
    generic: Option<String>,
    float_ret: bool,
    /// Scalars: parameters and locals.
    vars: HashMap<String, Class>,
    /// Element class of slices and arrays (parameters and local arrays).
    slices: HashMap<String, Class>,
    /// What each local is expected to be where it is used.
    demanded: HashMap<String, Class>,
    /// Loop variables bound to the elements of a field (`for x in p.w.iter()`).
    loop_elems: HashMap<String, Key>,
    uses: BTreeMap<Key, Usage>,
    members: HashMap<Key, Vec<syn::Member>>,
    /// A struct parameter used whole: (parameter, span, as the receiver of a method call).
    whole: Vec<(usize, Span, bool)>,
}

impl Infer<'_> {
    fn usage(&mut self, root: usize, members: &[syn::Member], span: Span) -> &mut Usage {
        let key = key_of(root, members);
        self.members
            .entry(key.clone())
            .or_insert_with(|| members.to_vec());
        let u = self.uses.entry(key).or_default();
        u.span.get_or_insert(span);
        u
    }

    fn field_class(&self, key: &Key, elem: bool) -> Class {
        match self.uses.get(key) {
            Some(u) if elem && u.elem_float => Class::Float,
            Some(u) if !elem && u.scalar_float => Class::Float,
            _ => Class::Unknown,
        }
    }

    /// What `e` evaluates to, as far as the syntax tells.
    fn class(&self, e: &syn::Expr) -> Class {
        use syn::Expr as E;
        if let Some((r, m)) = chain_of(e, self.structs) {
            return self.field_class(&key_of(r, &m), false);
        }
        match e {
            E::Lit(l) => match &l.lit {
                syn::Lit::Float(_) => Class::Float,
                syn::Lit::Int(i) if matches!(i.suffix(), "f64" | "f32") => Class::Float,
                syn::Lit::Int(_) => Class::Int,
                _ => Class::Unknown,
            },
            E::Path(p) => match p.path.get_ident() {
                Some(id) => {
                    let n = id.to_string();
                    self.vars.get(&n).copied().unwrap_or(Class::Unknown).or(self
                        .demanded
                        .get(&n)
                        .copied()
                        .unwrap_or(Class::Unknown))
                }
                None => Class::Unknown,
            },
            E::Index(ix) => {
                if matches!(&*ix.index, E::Range(_)) {
                    return Class::Unknown;
                }
                if let Some((r, m)) = chain_of(&ix.expr, self.structs) {
                    return self.field_class(&key_of(r, &m), true);
                }
                match &*ix.expr {
                    E::Path(p) => p
                        .path
                        .get_ident()
                        .and_then(|i| self.slices.get(&i.to_string()).copied())
                        .unwrap_or(Class::Unknown),
                    _ => Class::Unknown,
                }
            }
            E::Binary(b) => {
                use syn::BinOp as B;
                match b.op {
                    B::Add(_) | B::Sub(_) | B::Mul(_) | B::Div(_) | B::Rem(_) => {
                        self.class(&b.left).or(self.class(&b.right))
                    }
                    B::BitAnd(_) | B::BitOr(_) | B::BitXor(_) | B::Shl(_) | B::Shr(_) => Class::Int,
                    _ => Class::Unknown,
                }
            }
            E::Unary(u) => match u.op {
                syn::UnOp::Neg(_) | syn::UnOp::Deref(_) => self.class(&u.expr),
                _ => Class::Unknown,
            },
            E::Paren(p) => self.class(&p.expr),
            E::Group(g) => self.class(&g.expr),
            E::MethodCall(m) => {
                let name = m.method.to_string();
                if FLOAT_ONLY_METHODS.contains(&name.as_str()) {
                    Class::Float
                } else if matches!(name.as_str(), "len" | "count") {
                    Class::Int
                } else {
                    self.class(&m.receiver)
                }
            }
            E::Cast(c) => {
                if is_float_ty(&c.ty, self.generic.as_deref()) {
                    Class::Float
                } else if is_int_ty(&c.ty) {
                    Class::Int
                } else {
                    Class::Unknown
                }
            }
            E::Block(b) => self.block_class(&b.block),
            E::If(i) => self.block_class(&i.then_branch),
            _ => Class::Unknown,
        }
    }

    fn block_class(&self, b: &syn::Block) -> Class {
        match b.stmts.last() {
            Some(syn::Stmt::Expr(e, None)) => self.class(e),
            _ => Class::Unknown,
        }
    }

    fn block(&mut self, b: &syn::Block, demand: Class) {
        let n = b.stmts.len();
        for (k, s) in b.stmts.iter().enumerate() {
            match s {
                syn::Stmt::Local(l) => self.local(l),
                syn::Stmt::Expr(e, semi) => {
                    let d = if k + 1 == n && semi.is_none() {
                        demand
                    } else {
                        Class::Unknown
                    };
                    self.expr(e, d);
                }
                syn::Stmt::Item(_) | syn::Stmt::Macro(_) => {}
            }
        }
    }

    fn local(&mut self, l: &syn::Local) {
        let (name, ty) = match &l.pat {
            syn::Pat::Ident(pi) => (Some(pi.ident.to_string()), None),
            syn::Pat::Type(pt) => match &*pt.pat {
                syn::Pat::Ident(pi) => (Some(pi.ident.to_string()), Some(&*pt.ty)),
                _ => (None, Some(&*pt.ty)),
            },
            _ => (None, None),
        };
        let annotated = match ty {
            Some(t) if is_float_ty(t, self.generic.as_deref()) => Class::Float,
            Some(t) if is_int_ty(t) => Class::Int,
            _ => Class::Unknown,
        };
        let Some(init) = &l.init else {
            if let Some(n) = name {
                self.vars.insert(n, annotated);
            }
            return;
        };
        let demand = annotated.or(name
            .as_ref()
            .and_then(|n| self.demanded.get(n).copied())
            .unwrap_or(Class::Unknown));
        // Local arrays: their element class.
        if let (Some(n), syn::Expr::Array(_) | syn::Expr::Repeat(_)) = (&name, &*init.expr) {
            let elem = match &*init.expr {
                syn::Expr::Array(a) => a
                    .elems
                    .iter()
                    .map(|e| self.class(e))
                    .fold(Class::Unknown, Class::or),
                syn::Expr::Repeat(r) => self.class(&r.expr),
                _ => Class::Unknown,
            };
            self.slices.insert(n.clone(), elem);
        }
        self.expr(&init.expr, demand);
        if let Some((_, div)) = &init.diverge {
            self.expr(div, Class::Unknown);
        }
        if let Some(n) = name {
            let c = annotated.or(self.class(&init.expr)).or(demand);
            self.vars.insert(n, c);
        }
    }

    /// Marks the local `name` as expected to be `demand` (floats win).
    fn demand(&mut self, name: &str, demand: Class) {
        if demand == Class::Unknown {
            return;
        }
        let e = self.demanded.entry(name.to_string()).or_insert(demand);
        if demand == Class::Float {
            *e = Class::Float;
        }
    }

    fn record_value(&mut self, e: &syn::Expr, demand: Class) {
        let (r, m) = chain_of(e, self.structs).expect("a field path");
        let u = self.usage(r, &m, e.span());
        match demand {
            Class::Float => u.scalar_float = true,
            Class::Int => u.scalar_int = true,
            Class::Unknown => u.scalar_unknown = true,
        }
    }

    fn expr(&mut self, e: &syn::Expr, demand: Class) {
        use syn::Expr as E;
        if chain_of(e, self.structs).is_some() {
            self.record_value(e, demand);
            return;
        }
        if let Some(r) = root_of(e, self.structs) {
            self.whole.push((r, e.span(), false));
            return;
        }
        match e {
            E::Path(p) => {
                if let Some(id) = p.path.get_ident() {
                    let n = id.to_string();
                    self.demand(&n, demand);
                    if let Some(key) = self.loop_elems.get(&n).cloned() {
                        if demand == Class::Float {
                            self.uses.entry(key).or_default().elem_float = true;
                        }
                    }
                }
            }
            E::Lit(_) => {}
            E::Binary(b) => {
                use syn::BinOp as B;
                let (l, r) = (self.class(&b.left), self.class(&b.right));
                match b.op {
                    B::Add(_) | B::Sub(_) | B::Mul(_) | B::Div(_) | B::Rem(_) => {
                        self.expr(&b.left, demand.or(r));
                        self.expr(&b.right, demand.or(l));
                    }
                    B::AddAssign(_)
                    | B::SubAssign(_)
                    | B::MulAssign(_)
                    | B::DivAssign(_)
                    | B::RemAssign(_) => {
                        self.expr(&b.left, r);
                        self.expr(&b.right, l);
                    }
                    B::Lt(_) | B::Le(_) | B::Gt(_) | B::Ge(_) | B::Eq(_) | B::Ne(_) => {
                        self.expr(&b.left, r);
                        self.expr(&b.right, l);
                    }
                    B::And(_) | B::Or(_) => {
                        self.expr(&b.left, Class::Unknown);
                        self.expr(&b.right, Class::Unknown);
                    }
                    _ => {
                        self.expr(&b.left, Class::Int);
                        self.expr(&b.right, Class::Int);
                    }
                }
            }
            E::Unary(u) => match u.op {
                syn::UnOp::Neg(_) | syn::UnOp::Deref(_) => self.expr(&u.expr, demand),
                _ => self.expr(&u.expr, Class::Unknown),
            },
            E::Paren(p) => self.expr(&p.expr, demand),
            E::Group(g) => self.expr(&g.expr, demand),
            E::Index(ix) => {
                match &*ix.index {
                    E::Range(r) => {
                        for b in r.start.iter().chain(r.end.iter()) {
                            self.expr(b, Class::Int);
                        }
                    }
                    i => self.expr(i, Class::Int),
                }
                if let Some((r, m)) = chain_of(&ix.expr, self.structs) {
                    let ranged = matches!(&*ix.index, E::Range(_));
                    let u = self.usage(r, &m, ix.expr.span());
                    u.slice = true;
                    if ranged {
                        u.borrowed = true;
                    } else {
                        match demand {
                            Class::Float => u.elem_float = true,
                            Class::Int => u.elem_int = true,
                            Class::Unknown => u.elem_unknown = true,
                        }
                    }
                } else {
                    self.expr(&ix.expr, Class::Unknown);
                }
            }
            E::MethodCall(m) => {
                let name = m.method.to_string();
                if let Some((r, mem)) = chain_of(&m.receiver, self.structs) {
                    if matches!(name.as_str(), "len" | "is_empty") {
                        self.usage(r, &mem, m.receiver.span()).slice = true;
                    } else if name == "iter" {
                        let u = self.usage(r, &mem, m.receiver.span());
                        u.slice = true;
                        u.iterated = true;
                    } else if FLOAT_ONLY_METHODS.contains(&name.as_str()) {
                        self.record_value(&m.receiver, Class::Float);
                    } else {
                        self.record_value(&m.receiver, demand);
                    }
                } else if let Some(r) = root_of(&m.receiver, self.structs) {
                    self.whole.push((r, m.span(), true));
                } else {
                    let d = if FLOAT_ONLY_METHODS.contains(&name.as_str()) {
                        Class::Float
                    } else if matches!(name.as_str(), "len" | "is_empty" | "iter") {
                        Class::Unknown
                    } else {
                        demand
                    };
                    self.expr(&m.receiver, d);
                }
                let recv = self.class(&m.receiver);
                for a in &m.args {
                    let d = if name == "powi" {
                        Class::Int
                    } else if BINARY_FLOAT_METHODS.contains(&name.as_str()) || name == "mul_add" {
                        recv.or(demand)
                    } else {
                        Class::Unknown
                    };
                    self.expr(a, d);
                }
            }
            E::Call(c) => {
                self.expr(&c.func, Class::Unknown);
                for a in &c.args {
                    self.arg(a);
                }
            }
            E::Reference(_) => {
                self.arg(e);
            }
            E::Cast(c) => self.expr(&c.expr, Class::Unknown),
            E::Range(r) => {
                for b in r.start.iter().chain(r.end.iter()) {
                    self.expr(b, Class::Int);
                }
            }
            E::If(i) => {
                self.expr(&i.cond, Class::Unknown);
                self.block(&i.then_branch, demand);
                if let Some((_, el)) = &i.else_branch {
                    self.expr(el, demand);
                }
            }
            E::Block(b) => self.block(&b.block, demand),
            E::Unsafe(b) => self.block(&b.block, demand),
            E::Loop(l) => self.block(&l.body, Class::Unknown),
            E::While(w) => {
                self.expr(&w.cond, Class::Unknown);
                self.block(&w.body, Class::Unknown);
            }
            E::ForLoop(f) => {
                self.for_loop(f);
            }
            E::Match(m) => {
                self.expr(&m.expr, Class::Unknown);
                for arm in &m.arms {
                    if let Some((_, g)) = &arm.guard {
                        self.expr(g, Class::Unknown);
                    }
                    self.expr(&arm.body, demand);
                }
            }
            E::Assign(a) => {
                let l = self.class(&a.left);
                self.expr(&a.left, self.class(&a.right));
                self.expr(&a.right, l);
            }
            E::Return(r) => {
                if let Some(v) = &r.expr {
                    let d = if self.float_ret {
                        Class::Float
                    } else {
                        Class::Unknown
                    };
                    self.expr(v, d);
                }
            }
            E::Break(b) => {
                if let Some(v) = &b.expr {
                    self.expr(v, Class::Unknown);
                }
            }
            E::Try(t) => self.expr(&t.expr, demand),
            E::Tuple(t) => {
                for x in &t.elems {
                    self.expr(x, Class::Unknown);
                }
            }
            E::Array(a) => {
                for x in &a.elems {
                    self.expr(x, demand);
                }
            }
            E::Repeat(r) => {
                self.expr(&r.expr, demand);
                self.expr(&r.len, Class::Int);
            }
            E::Closure(c) => {
                for p in &c.inputs {
                    if let syn::Pat::Type(pt) = p {
                        if let syn::Pat::Ident(pi) = &*pt.pat {
                            let c = if is_float_ty(&pt.ty, self.generic.as_deref()) {
                                Class::Float
                            } else if is_int_ty(&pt.ty) {
                                Class::Int
                            } else {
                                Class::Unknown
                            };
                            self.vars.insert(pi.ident.to_string(), c);
                        }
                    }
                }
                self.expr(&c.body, Class::Unknown);
            }
            _ => {}
        }
    }

    /// A call argument: `&p.w` / `&p.w[a..b]` borrow a field whole; returns whether `e` was
    /// such a borrow.
    fn arg(&mut self, e: &syn::Expr) -> bool {
        if let syn::Expr::Reference(r) = e {
            if let Some((root, m)) = chain_of(&r.expr, self.structs) {
                let u = self.usage(root, &m, r.expr.span());
                u.borrowed = true;
                u.slice = true;
                return true;
            }
            if let syn::Expr::Index(ix) = &*r.expr {
                if matches!(&*ix.index, syn::Expr::Range(_))
                    && chain_of(&ix.expr, self.structs).is_some()
                {
                    self.expr(&r.expr, Class::Unknown);
                    return true;
                }
            }
            if root_of(&r.expr, self.structs).is_some() {
                self.expr(&r.expr, Class::Unknown);
                return true;
            }
            self.expr(&r.expr, Class::Unknown);
            return true;
        }
        self.expr(e, Class::Unknown);
        false
    }

    fn for_loop(&mut self, f: &syn::ExprForLoop) {
        fn ident_of(p: &syn::Pat) -> Option<String> {
            match p {
                syn::Pat::Ident(pi) => Some(pi.ident.to_string()),
                syn::Pat::Reference(r) => ident_of(&r.pat),
                _ => None,
            }
        }
        // `for (i, x) in xs.iter().enumerate()`: the element is the second binding.
        let (pat_elem, iter) = match (&*f.pat, &*f.expr) {
            (syn::Pat::Tuple(t), syn::Expr::MethodCall(m))
                if m.method == "enumerate" && t.elems.len() == 2 =>
            {
                if let Some(i) = ident_of(&t.elems[0]) {
                    self.vars.insert(i, Class::Int);
                }
                (ident_of(&t.elems[1]), &*m.receiver)
            }
            (p, e) => (ident_of(p), e),
        };
        let var = pat_elem;
        // The iterated field, if any: `p.w.iter()`, `&p.w`, `p.w`.
        let it = match iter {
            syn::Expr::MethodCall(m) if m.method == "iter" => &*m.receiver,
            syn::Expr::Reference(r) => &*r.expr,
            other => other,
        };
        if let Some((r, m)) = chain_of(it, self.structs) {
            let u = self.usage(r, &m, it.span());
            u.slice = true;
            u.iterated = true;
            if let Some(v) = &var {
                self.loop_elems.insert(v.clone(), key_of(r, &m));
                let c = self.field_class(&key_of(r, &m), true);
                self.vars.insert(v.clone(), c);
            }
        } else {
            match &*f.expr {
                syn::Expr::Range(_) => {
                    if let Some(v) = &var {
                        self.vars.insert(v.clone(), Class::Int);
                    }
                }
                _ => {
                    if let (Some(v), syn::Expr::Path(p)) = (&var, it) {
                        if let Some(id) = p.path.get_ident() {
                            let c = self.slices.get(&id.to_string()).copied();
                            self.vars.insert(v.clone(), c.unwrap_or(Class::Unknown));
                        }
                    }
                }
            }
            self.expr(&f.expr, Class::Unknown);
        }
        self.block(&f.body, Class::Unknown);
    }
}

/// The plan for one function with struct parameters (or a receiver).
pub struct Plan {
    /// The flat function (struct fields as parameters), or `None` when no field is a float
    /// and the function has no receiver (then it is compiled as written).
    pub flat: Option<syn::ItemFn>,
    /// `wrt(..)` of the flat function.
    pub flat_wrt: Option<Vec<syn::Ident>>,
    /// Checks that every field read as a constant holds no float (an item, or an
    /// associated function for methods).
    pub probes: TokenStream,
    fields: Vec<FlatField>,
    structs: Vec<StructParam>,
    /// Which struct parameters the flat function keeps (read for their inactive fields).
    kept: Vec<bool>,
    /// Which of those it keeps as `Ty::Struct` (passed whole to calls, with an adjoint).
    whole_struct: Vec<bool>,
    receiver: bool,
}

/// Finds struct parameters and plans the flat function; `Ok(None)` for a function without
/// any (the common case, compiled as written).
pub fn plan(
    wrt: Option<&[syn::Ident]>,
    hessian: bool,
    item: &syn::ItemFn,
) -> syn::Result<Option<Plan>> {
    let sig = &item.sig;
    let generic = sig.generics.params.iter().find_map(|g| match g {
        syn::GenericParam::Type(t) => Some(t.ident.to_string()),
        _ => None,
    });
    let mut structs = Vec::new();
    let mut receiver = false;
    for (k, a) in sig.inputs.iter().enumerate() {
        match a {
            syn::FnArg::Receiver(r) => {
                if r.reference.is_none() || r.mutability.is_some() || r.colon_token.is_some() {
                    return Err(syn::Error::new_spanned(
                        r,
                        "a differentiable method takes `&self` (its adjoint is `d_self: &mut Self`); \
                         `self`, `&mut self` and typed receivers are not supported",
                    ));
                }
                receiver = true;
                structs.push(StructParam {
                    name: "self".into(),
                    ty: syn::parse_quote!(&Self),
                    input: k,
                });
            }
            syn::FnArg::Typed(pt) => {
                if let syn::Pat::Ident(pi) = &*pt.pat {
                    if is_struct_ref(&pt.ty, generic.as_deref()) {
                        structs.push(StructParam {
                            name: pi.ident.to_string(),
                            ty: (*pt.ty).clone(),
                            input: k,
                        });
                    }
                }
            }
        }
    }
    if structs.is_empty() {
        return Ok(None);
    }
    let mut inf = Infer {
        structs: &structs,
        generic: generic.clone(),
        float_ret: float_type(sig).is_some() && matches!(&sig.output, syn::ReturnType::Type(..)),
        vars: HashMap::new(),
        slices: HashMap::new(),
        demanded: HashMap::new(),
        loop_elems: HashMap::new(),
        uses: BTreeMap::new(),
        members: HashMap::new(),
        whole: Vec::new(),
    };
    for a in &sig.inputs {
        if let syn::FnArg::Typed(pt) = a {
            if let syn::Pat::Ident(pi) = &*pt.pat {
                let n = pi.ident.to_string();
                if is_float_ty(&pt.ty, generic.as_deref()) {
                    inf.vars.insert(n, Class::Float);
                } else if is_int_ty(&pt.ty) {
                    inf.vars.insert(n, Class::Int);
                } else if let syn::Type::Reference(r) = &*pt.ty {
                    if let syn::Type::Slice(s) = &*r.elem {
                        let c = if is_float_ty(&s.elem, generic.as_deref()) {
                            Class::Float
                        } else {
                            Class::Int
                        };
                        inf.slices.insert(n, c);
                    }
                }
            }
        }
    }
    let float_ret = inf.float_ret;
    for _ in 0..3 {
        inf.whole.clear();
        inf.block(
            &item.block,
            if float_ret {
                Class::Float
            } else {
                Class::Unknown
            },
        );
    }
    let generic_struct = |s: &StructParam| {
        generic.as_ref().is_some_and(|g| {
            s.ty.to_token_stream()
                .into_iter()
                .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == g))
        })
    };

    // The float fields become parameters; every other field whose value is read is probed.
    let mut fields = Vec::new();
    let mut probes = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut push_err = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let mut used_names = HashSet::new();
    // A struct with a field read in float arithmetic is differentiable: its fields whose
    // kind the syntax does not tell (call arguments) are taken as floats too. In a struct
    // without one (a dimensions struct), they are taken as constants and probed.
    let mut active_roots: HashSet<usize> = inf
        .uses
        .iter()
        .filter(|(_, u)| u.scalar_float || u.elem_float)
        .map(|(k, _)| k.0)
        .collect();
    // `wrt(p)` says it outright.
    for id in wrt.into_iter().flatten() {
        if let Some(r) = structs.iter().position(|s| id == s.name.as_str()) {
            active_roots.insert(r);
        }
    }
    for (key, u) in &inf.uses {
        let members = inf.members[key].clone();
        let span = u.span.unwrap_or_else(Span::call_site);
        let s = &structs[key.0];
        let active = active_roots.contains(&key.0);
        let float = if u.slice {
            u.elem_float || (active && (u.elem_unknown || u.borrowed || u.iterated) && !u.elem_int)
        } else {
            u.scalar_float || (active && u.scalar_unknown && !u.scalar_int)
        };
        let value_read =
            u.scalar_int || u.scalar_unknown || u.elem_int || u.elem_unknown || u.borrowed;
        if float {
            let mut name = s.name.clone();
            for m in &members {
                name.push_str("__");
                name.push_str(&member_name(m));
            }
            if !used_names.insert(name.clone()) {
                continue;
            }
            fields.push(FlatField {
                root: key.0,
                members,
                slice: u.slice,
                ident: syn::Ident::new(&name, span),
                span,
            });
        } else if value_read {
            if generic_struct(s) {
                push_err(syn::Error::new(
                    span,
                    "in a generic function, a field of a generic struct must be used where its kind is clear: \
                     in float arithmetic, or as an integer (a loop bound, an index)",
                ));
                continue;
            }
            let root = root_tokens(s);
            let path = field_tokens(&root, &members, span);
            probes.push(quote_spanned! {span=>
                let _: ::ferrograd::structs::FieldHoldsNoFloat =
                    (&::ferrograd::structs::field_probe(&#path)).kind();
            });
        }
    }
    // Kept whole for calls (`g(p)`, `p.m(..)`), with an adjoint of its own type: a struct
    // whose methods are called, the receiver, and a differentiable struct handed on. (A
    // struct of sizes handed to kernels stays a pass-through value.)
    let whole_struct: Vec<bool> = (0..structs.len())
        .map(|r| {
            inf.whole.iter().any(|(w, _, method)| {
                *w == r && (*method || structs[r].name == "self" || active_roots.contains(&r))
            })
        })
        .collect();
    if let Some(e) = errors {
        return Err(e);
    }
    if hessian && !fields.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            "`hessian` with struct parameters is not supported yet: pass the parameters as `f64`s \
             or a slice",
        ));
    }
    let probes = emit_probes(item, &structs, receiver, probes);
    if fields.is_empty() && !receiver && !whole_struct.iter().any(|w| *w) {
        return Ok(Some(Plan {
            flat: None,
            flat_wrt: None,
            probes,
            fields,
            structs,
            kept: Vec::new(),
            whole_struct,
            receiver,
        }));
    }
    let Some(float_ty) = float_type(sig) else {
        return Err(syn::Error::new_spanned(
            sig,
            "a function with struct parameters needs a float type: return `f64`/`f32` or take a \
             float parameter",
        ));
    };

    // Which struct parameters the flat function still reads (inactive fields, `.len()`).
    let flat_keys: HashSet<Key> = fields.iter().map(|f| key_of(f.root, &f.members)).collect();
    let kept: Vec<bool> = (0..structs.len())
        .map(|r| {
            inf.uses.keys().any(|k| k.0 == r && !flat_keys.contains(k))
                || inf.whole.iter().any(|(w, _, _)| *w == r)
        })
        .collect();

    let mut flat = item.clone();
    flat.sig.ident = flat_name(&sig.ident);
    flat.attrs.retain(|a| !a.path().is_ident("doc"));
    let mut inputs = syn::punctuated::Punctuated::new();
    for (k, a) in sig.inputs.iter().enumerate() {
        let Some(r) = structs.iter().position(|s| s.input == k) else {
            inputs.push(a.clone());
            continue;
        };
        let s = &structs[r];
        if kept[r] {
            let id = flat_root(s);
            let ty = &s.ty;
            if whole_struct[r] {
                let marker = format_ident!("{}", WHOLE_STRUCT);
                inputs.push(syn::parse_quote!(#[#marker] #id: #ty));
            } else {
                inputs.push(syn::parse_quote!(#id: #ty));
            }
        }
        for f in fields.iter().filter(|f| f.root == r) {
            let id = &f.ident;
            let ty: syn::Type = if f.slice {
                syn::parse_quote!(&[#float_ty])
            } else {
                float_ty.clone()
            };
            inputs.push(syn::parse_quote_spanned!(f.span=> #id: #ty));
        }
    }
    flat.sig.inputs = inputs;
    let mut rw = Rewrite {
        structs: &structs,
        fields: &fields,
        whole_struct: &whole_struct,
    };
    rw.visit_block_mut(&mut flat.block);

    let flat_wrt = wrt.map(|ids| {
        let mut out = Vec::new();
        for id in ids {
            match structs.iter().position(|s| id == s.name.as_str()) {
                Some(r) => {
                    out.extend(
                        fields
                            .iter()
                            .filter(|f| f.root == r)
                            .map(|f| f.ident.clone()),
                    );
                    if whole_struct[r] {
                        out.push(flat_root(&structs[r]));
                    }
                }
                None => out.push(id.clone()),
            }
        }
        out
    });
    Ok(Some(Plan {
        flat: Some(flat),
        flat_wrt,
        probes,
        fields,
        structs,
        kept,
        whole_struct,
        receiver,
    }))
}

fn flat_name(name: &syn::Ident) -> syn::Ident {
    format_ident!("__fg_{}_fields", name)
}

/// The name of a struct parameter inside the flat function (`self` becomes `__fg_self`).
fn flat_root(s: &StructParam) -> syn::Ident {
    if s.name == "self" {
        format_ident!("__fg_self")
    } else {
        syn::Ident::new(&s.name, Span::call_site())
    }
}

fn root_tokens(s: &StructParam) -> TokenStream {
    if s.name == "self" {
        quote!(self)
    } else {
        syn::Ident::new(&s.name, Span::call_site()).to_token_stream()
    }
}

fn field_tokens(root: &TokenStream, members: &[syn::Member], span: Span) -> TokenStream {
    let mut t = root.clone();
    for m in members {
        t = quote_spanned!(span=> #t.#m);
    }
    t
}

fn emit_probes(
    item: &syn::ItemFn,
    structs: &[StructParam],
    receiver: bool,
    probes: Vec<TokenStream>,
) -> TokenStream {
    if probes.is_empty() {
        return TokenStream::new();
    }
    let name = format_ident!("__fg_{}_field_probes", item.sig.ident);
    let generics = &item.sig.generics;
    let params = structs.iter().filter(|s| s.name != "self").map(|s| {
        let id = syn::Ident::new(&s.name, Span::call_site());
        let ty = &s.ty;
        quote!(#id: #ty)
    });
    let recv = receiver.then(|| quote!(&self,));
    quote! {
        /// Compile-time check generated by `#[differentiable]`: the fields it reads as
        /// constants hold no float (see `ferrograd::structs::field_probe`).
        #[doc(hidden)]
        #[allow(dead_code, non_snake_case, clippy::all)]
        fn #name #generics (#recv #(#params),*) {
            use ::ferrograd::structs::{ProbeFloat as _, ProbeOther as _};
            #(#probes)*
        }
    }
}

/// Replaces float field paths by the flat parameters (and `self` by `__fg_self`), and method
/// calls on struct parameters by calls of the type's function (`p.m(x)` → `S::m(p, x)`), so
/// that the callee's generated `S::m_pullback(p, x, d_ret, d_p, d_x)` is found by name.
struct Rewrite<'a> {
    structs: &'a [StructParam],
    fields: &'a [FlatField],
    whole_struct: &'a [bool],
}

/// `S` for `&S` (generic arguments dropped: `Pair<T>` → `Pair`, inferred at the call).
fn type_path(ty: &syn::Type) -> TokenStream {
    let elem = match ty {
        syn::Type::Reference(r) => &*r.elem,
        t => t,
    };
    match elem {
        syn::Type::Path(p) => {
            let segs = p.path.segments.iter().map(|s| &s.ident);
            let lead = p.path.leading_colon;
            quote!(#lead #(#segs)::*)
        }
        t => quote!(#t),
    }
}

impl Rewrite<'_> {
    fn flat_of(&self, e: &syn::Expr) -> Option<&FlatField> {
        let (r, m) = chain_of(e, self.structs)?;
        let key = key_of(r, &m);
        self.fields
            .iter()
            .find(|f| f.root == r && key_of(f.root, &f.members) == key)
    }
}

impl VisitMut for Rewrite<'_> {
    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        // `&p.w` of a slice field: the flat slice parameter itself.
        if let syn::Expr::Reference(r) = e {
            if let Some(f) = self.flat_of(&r.expr) {
                if f.slice {
                    let id = syn::Ident::new(&f.ident.to_string(), r.expr.span());
                    *e = syn::parse_quote!(#id);
                    return;
                }
            }
        }
        if let Some(f) = self.flat_of(e) {
            let id = syn::Ident::new(&f.ident.to_string(), e.span());
            *e = syn::parse_quote!(#id);
            return;
        }
        if let syn::Expr::MethodCall(m) = e {
            if let Some(r) = root_of(&m.receiver, self.structs) {
                if self.whole_struct[r] {
                    for a in &mut m.args {
                        self.visit_expr_mut(a);
                    }
                    let mut recv = (*m.receiver).clone();
                    self.visit_expr_mut(&mut recv);
                    let path = type_path(&self.structs[r].ty);
                    let method = &m.method;
                    let args = &m.args;
                    let span = m.method.span();
                    *e = syn::parse_quote_spanned!(span=> #path::#method(#recv, #args));
                    return;
                }
            }
        }
        if let syn::Expr::Path(p) = e {
            if p.qself.is_none() && p.path.is_ident("self") {
                let span = p.path.segments[0].ident.span();
                let id = syn::Ident::new("__fg_self", span);
                *e = syn::parse_quote!(#id);
                return;
            }
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// The public functions with the user's names, over the flat function's generated ones
/// (`gen`), plus `f_ARG_MODES`. `self_path` is `Self::` for methods.
pub fn wrappers(plan: &Plan, item: &syn::ItemFn, gen: &TokenStream) -> syn::Result<TokenStream> {
    let Some(flat) = &plan.flat else {
        return Ok(TokenStream::new());
    };
    let file: syn::File = syn::parse2(gen.clone())?;
    let name = &item.sig.ident;
    let flat_name = &flat.sig.ident;
    let vis = &item.vis;
    let prefix = if plan.receiver {
        quote!(Self::)
    } else {
        TokenStream::new()
    };
    let n_flat = flat.sig.inputs.len();
    // The flat primal arguments, from the user's parameters.
    let mut primal_args = Vec::new();
    for (k, a) in item.sig.inputs.iter().enumerate() {
        let Some(r) = plan.structs.iter().position(|s| s.input == k) else {
            if let syn::FnArg::Typed(pt) = a {
                if let syn::Pat::Ident(pi) = &*pt.pat {
                    let id = &pi.ident;
                    primal_args.push(quote!(#id));
                }
            }
            continue;
        };
        let s = &plan.structs[r];
        let root = root_tokens(s);
        if plan.kept[r] {
            primal_args.push(root.clone());
        }
        for f in plan.fields.iter().filter(|f| f.root == r) {
            let path = field_tokens(&root, &f.members, f.span);
            primal_args.push(if f.slice {
                quote_spanned!(f.span=> &#path[..])
            } else {
                quote_spanned!(f.span=> #path)
            });
        }
    }
    let mut out = TokenStream::new();
    for (suffix, prefix_letter, mutable) in [
        ("_pullback", "d", true),
        ("_grad", "d", true),
        ("_pushforward", "t", false),
    ] {
        let gen_name = format_ident!("{}{}", flat_name, suffix);
        let Some(gen_fn) = file.items.iter().find_map(|i| match i {
            syn::Item::Fn(f) if f.sig.ident == gen_name => Some(f),
            _ => None,
        }) else {
            continue;
        };
        let wrapper = format_ident!("{}{}", name, suffix);
        let mut inputs: Vec<TokenStream> = item.sig.inputs.iter().map(|a| quote!(#a)).collect();
        let mut args = primal_args.clone();
        let mut struct_done = HashSet::new();
        let (mut before, mut after) = (TokenStream::new(), TokenStream::new());
        let struct_input = |s: &StructParam, adj: &syn::Ident| {
            let ty = crate::reverse::struct_type(&s.ty);
            if mutable {
                quote!(#adj: &mut #ty)
            } else {
                quote!(#adj: &#ty)
            }
        };
        for a in gen_fn.sig.inputs.iter().skip(n_flat) {
            let syn::FnArg::Typed(pt) = a else { continue };
            let syn::Pat::Ident(pi) = &*pt.pat else {
                continue;
            };
            let pname = pi.ident.to_string();
            let stripped = pname
                .strip_prefix(prefix_letter)
                .and_then(|s| s.strip_prefix('_'));
            let field = stripped.and_then(|s| plan.fields.iter().find(|f| f.ident == s));
            // The adjoint or tangent of a struct kept whole (`d_p`, `d___fg_self`).
            let whole = stripped.and_then(|n| {
                (0..plan.structs.len())
                    .find(|&r| plan.whole_struct[r] && flat_root(&plan.structs[r]) == n)
            });
            if let Some(r) = whole {
                let s = &plan.structs[r];
                let adj = format_ident!("{}_{}", prefix_letter, s.name);
                if struct_done.insert(r) {
                    inputs.push(struct_input(s, &adj));
                }
                if mutable {
                    // Its fields' adjoints are borrowed from `d_p` already: the callees add
                    // into scratch of the same shape, added into `d_p` after the call.
                    let scratch = format_ident!("__fg_whole_{}", s.name);
                    let root = root_tokens(s);
                    before.extend(quote! {
                        let mut #scratch = ::ferrograd::Differentiable::zero_like(#root);
                    });
                    after.extend(quote! {
                        ::ferrograd::Differentiable::add_from(#adj, &#scratch);
                    });
                    args.push(quote!(&mut #scratch));
                } else {
                    args.push(quote!(#adj));
                }
                continue;
            }
            match field {
                Some(f) => {
                    let s = &plan.structs[f.root];
                    let adj = format_ident!("{}_{}", prefix_letter, s.name);
                    if struct_done.insert(f.root) {
                        inputs.push(struct_input(s, &adj));
                    }
                    let path = field_tokens(&adj.to_token_stream(), &f.members, f.span);
                    args.push(match (f.slice, mutable) {
                        (true, true) => quote_spanned!(f.span=> &mut #path[..]),
                        (true, false) => quote_spanned!(f.span=> &#path[..]),
                        (false, true) => quote_spanned!(f.span=> &mut #path),
                        (false, false) => quote_spanned!(f.span=> #path),
                    });
                }
                None => {
                    inputs.push(quote!(#a));
                    let id = &pi.ident;
                    args.push(quote!(#id));
                }
            }
        }
        // Generic functions: the generated ones are over `__FgT`; the wrappers keep the
        // user's generics and name their parameter.
        let user_t = item.sig.generics.params.iter().find_map(|g| match g {
            syn::GenericParam::Type(t) => Some(t.ident.clone()),
            _ => None,
        });
        let generics = &item.sig.generics;
        let where_c = &item.sig.generics.where_clause;
        let output = rename_generic(gen_fn.sig.output.to_token_stream(), user_t.as_ref());
        let inputs: Vec<TokenStream> = inputs
            .into_iter()
            .map(|t| rename_generic(t, user_t.as_ref()))
            .collect();
        let turbofish = match &user_t {
            Some(t) if !gen_fn.sig.generics.params.is_empty() => quote!(::<#t>),
            _ => TokenStream::new(),
        };
        let doc = format!(
            "`{name}{suffix}` generated by `#[differentiable]` (struct adjoints `d_*: &mut S` are \
             added into, tangents `t_*: &S`)."
        );
        out.extend(quote! {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments, non_snake_case)]
            #[inline]
            #vis fn #wrapper #generics (#(#inputs),*) #output #where_c {
                #before
                let __fg_result = #prefix #gen_name #turbofish (#(#args),*);
                #after
                __fg_result
            }
        });
    }
    // `f_ARG_MODES` over the user's parameters (struct parameters are inputs).
    let modes_name = format_ident!("{}_ARG_MODES", name);
    let flat_modes = format_ident!("{}_ARG_MODES", flat_name);
    let mut modes = Vec::new();
    let mut flat_index = 0usize;
    for (k, _) in item.sig.inputs.iter().enumerate() {
        match plan.structs.iter().position(|s| s.input == k) {
            Some(r) => {
                if plan.kept[r] {
                    flat_index += 1;
                }
                flat_index += plan.fields.iter().filter(|f| f.root == r).count();
                modes.push(quote!(::ferrograd::ArgMode::In));
            }
            None => {
                modes.push(quote!(#prefix #flat_modes[#flat_index]));
                flat_index += 1;
            }
        }
    }
    out.extend(quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        #vis const #modes_name: &[::ferrograd::ArgMode] = &[#(#modes),*];
    });
    Ok(out)
}

/// `__FgT` (the emitters' generic scalar) renamed to the user's type parameter.
pub(crate) fn rename_generic(tokens: TokenStream, user_t: Option<&syn::Ident>) -> TokenStream {
    let Some(t) = user_t else {
        return tokens;
    };
    tokens
        .into_iter()
        .map(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) if i == "__FgT" => {
                proc_macro2::TokenTree::Ident(t.clone())
            }
            proc_macro2::TokenTree::Group(g) => {
                let mut ng =
                    proc_macro2::Group::new(g.delimiter(), rename_generic(g.stream(), user_t));
                ng.set_span(g.span());
                proc_macro2::TokenTree::Group(ng)
            }
            other => other,
        })
        .collect()
}

/// The flat function's own items, hidden and allowed to go unused; for methods, checked to
/// be items an `impl` block can hold.
pub fn hide(tokens: TokenStream, method: bool, span: Span) -> syn::Result<TokenStream> {
    let mut file: syn::File = syn::parse2(tokens)?;
    let mut out = TokenStream::new();
    for item in &mut file.items {
        let attrs: Vec<syn::Attribute> = vec![
            syn::parse_quote!(#[doc(hidden)]),
            syn::parse_quote!(#[allow(dead_code, non_snake_case)]),
        ];
        match item {
            syn::Item::Fn(f) => {
                f.attrs.retain(|a| !a.path().is_ident("doc"));
                f.attrs.extend(attrs);
                for input in &mut f.sig.inputs {
                    if let syn::FnArg::Typed(pt) = input {
                        pt.attrs.retain(|a| !a.path().is_ident(WHOLE_STRUCT));
                    }
                }
                out.extend(f.to_token_stream());
            }
            syn::Item::Const(c) if !(method && c.ident == "_") => {
                c.attrs.retain(|a| !a.path().is_ident("doc"));
                c.attrs.extend(attrs);
                out.extend(c.to_token_stream());
            }
            other if !method => out.extend(other.to_token_stream()),
            _ => {
                return Err(syn::Error::new(
                    span,
                    "this method needs code that an `impl` block cannot hold (a `simd` loop or a \
                     nested `&mut` write check): write it as a free function over the fields",
                ))
            }
        }
    }
    Ok(out)
}
