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

use crate::lower::is_int_ty;

mod emit;
mod infer;

pub(crate) use emit::rename_generic;
use emit::{emit_probes, Rewrite};
pub use emit::{hide, wrappers};
use infer::Infer;

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
    /// `&mut S`: a struct of output buffers (activations a kernel writes).
    mutable: bool,
    /// A view struct: generic over its storage and instantiated with slices
    /// (`&Mlp<&[f32]>`, `&mut Acts<&mut [f32]>`). Its adjoint is the same struct over
    /// `&mut` slices; it is never kept whole (it has no `zero_like`).
    view: bool,
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

/// How a parameter type is a struct: `&S`, `&mut S` (a view over `&mut` slices only), or not.
#[derive(Clone, Copy)]
struct StructRef {
    mutable: bool,
    view: bool,
}

/// `&S` or `&mut S` for a struct-like `S`: a path that is not a float, integer, `bool`,
/// `Tensor` or the generic scalar, and mentions no float except in view arguments
/// (`&[f32]`, `&mut [f32]`: a struct generic over its storage). A `&mut S` view's fields are
/// the output buffers (`&mut [f32]`) the body writes; any other `&mut S` must hold no float
/// the body uses (integer scratch such as max-pool argmax), which the probes check.
fn struct_ref(ty: &syn::Type, generic: Option<&str>) -> Option<StructRef> {
    let syn::Type::Reference(r) = ty else {
        return None;
    };
    let syn::Type::Path(p) = &*r.elem else {
        return None;
    };
    if p.qself.is_some() || is_float_ty(&r.elem, generic) || is_int_ty(&r.elem) {
        return None;
    }
    let last = p.path.segments.last()?;
    let name = last.ident.to_string();
    if matches!(name.as_str(), "bool" | "Tensor" | "str" | "String") {
        return None;
    }
    let mut view = false;
    let mut other_float = false;
    for seg in &p.path.segments {
        match &seg.arguments {
            syn::PathArguments::AngleBracketed(a) => {
                for arg in &a.args {
                    match arg {
                        syn::GenericArgument::Type(t) if view_slice(t, generic) => view = true,
                        other => other_float |= mentions_float(&other.to_token_stream()),
                    }
                }
            }
            other => other_float |= mentions_float(&other.to_token_stream()),
        }
    }
    if other_float {
        return None;
    }
    let mutable = r.mutability.is_some();
    Some(StructRef { mutable, view })
}

/// `&[F]` or `&mut [F]` for a float `F`: a view struct's storage argument.
fn view_slice(t: &syn::Type, generic: Option<&str>) -> bool {
    matches!(t, syn::Type::Reference(r)
        if matches!(&*r.elem, syn::Type::Slice(s) if is_float_ty(&s.elem, generic)))
}

fn mentions_float(t: &TokenStream) -> bool {
    t.clone().into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == "f64" || i == "f32",
        proc_macro2::TokenTree::Group(g) => mentions_float(&g.stream()),
        _ => false,
    })
}

/// The adjoint type of a struct parameter: the struct itself for an owned one, the same
/// struct over `&mut` slices for a view (`Mlp<&[f32]>` → `Mlp<&mut [f32]>`).
fn adjoint_struct_type(s: &StructParam) -> syn::Type {
    let mut t = crate::reverse::struct_type(&s.ty);
    if s.view {
        struct Mut;
        impl VisitMut for Mut {
            fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
                if matches!(&*r.elem, syn::Type::Slice(_)) {
                    r.mutability = Some(Default::default());
                }
                syn::visit_mut::visit_type_reference_mut(self, r);
            }
        }
        Mut.visit_type_mut(&mut t);
    }
    t
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
    /// The scalar of a method in a generic `impl<T: Real>` block (`T`), which the method
    /// itself does not declare.
    impl_scalar: Option<syn::Ident>,
}

/// The scalar of a method in a generic `impl<T: Real>` block: a receiver, no generics of its
/// own, and a return type (`T` or `Result<T, _>`) that is a bare type parameter-like name
/// (not `f64`/`f32`/`Self`). The generated code is generic over it; were the guess wrong, the
/// type would not implement `ferrograd::Real` and rustc would say so.
pub fn impl_scalar(sig: &syn::Signature) -> Option<syn::Ident> {
    if !sig.generics.params.is_empty()
        || !sig
            .inputs
            .iter()
            .any(|a| matches!(a, syn::FnArg::Receiver(_)))
    {
        return None;
    }
    let syn::ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    let bare = |t: &syn::Type| match t {
        syn::Type::Path(p) if p.qself.is_none() => p.path.get_ident().cloned(),
        _ => None,
    };
    let mut id = bare(ty);
    if id.is_none() {
        if let syn::Type::Path(p) = &**ty {
            let last = p.path.segments.last()?;
            if last.ident == "Result" {
                if let syn::PathArguments::AngleBracketed(a) = &last.arguments {
                    if let Some(syn::GenericArgument::Type(t)) = a.args.first() {
                        id = bare(t);
                    }
                }
            }
        }
    }
    let id = id?;
    let name = id.to_string();
    let known = matches!(
        name.as_str(),
        "f64" | "f32" | "Self" | "bool" | "Tensor" | "String" | "usize" | "isize"
    ) || is_int_ty(&syn::parse_quote!(#id));
    (!known && name.chars().next().is_some_and(char::is_uppercase)).then_some(id)
}

/// Renames the type parameter `from` to `to` everywhere in an item.
pub(super) struct RenameIdent<'a> {
    pub(super) from: &'a syn::Ident,
    pub(super) to: syn::Ident,
}

impl VisitMut for RenameIdent<'_> {
    fn visit_ident_mut(&mut self, i: &mut syn::Ident) {
        if i == self.from {
            *i = syn::Ident::new(&self.to.to_string(), i.span());
        }
    }
}

/// Finds struct parameters and plans the flat function; `Ok(None)` for a function without
/// any (the common case, compiled as written).
pub fn plan(
    wrt: Option<&[syn::Ident]>,
    hessian: bool,
    item: &syn::ItemFn,
    impl_scalar: Option<&syn::Ident>,
) -> syn::Result<Option<Plan>> {
    // A method of a generic `impl<T: Real>` block is analysed as if it declared `T` itself.
    let user_item = item;
    let with_scalar;
    let item = match impl_scalar {
        Some(t) => {
            let mut f = item.clone();
            f.sig.generics = syn::parse_quote!(<#t: ::ferrograd::Real>);
            with_scalar = f;
            &with_scalar
        }
        None => item,
    };
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
                    mutable: false,
                    view: false,
                });
            }
            syn::FnArg::Typed(pt) => {
                if let syn::Pat::Ident(pi) = &*pt.pat {
                    if let Some(sr) = struct_ref(&pt.ty, generic.as_deref()) {
                        structs.push(StructParam {
                            name: pi.ident.to_string(),
                            ty: (*pt.ty).clone(),
                            input: k,
                            mutable: sr.mutable,
                            view: sr.view,
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
    // A view over float slices says it in its type.
    for (r, sp) in structs.iter().enumerate() {
        if sp.view {
            active_roots.insert(r);
        }
    }
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
        // Every field of a view is a float slice, also where it is handed on bare
        // (`linear(acts.h, ..)`).
        let slice = u.slice || s.view;
        let float = if s.view {
            !(u.elem_int || u.scalar_int)
        } else if u.slice {
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
                slice,
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
                let _: ::ferrograd::__private::FieldHoldsNoFloat =
                    (&::ferrograd::__private::field_probe(&#path)).kind();
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
    // The Hessian sweeps dual numbers through the flat function: fine for fields, but a
    // struct handed whole (`self.m(..)` included) would have to hold dual numbers itself.
    if hessian && whole_struct.iter().any(|w| *w) {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            "`hessian` with a struct handed whole to a call (`g(p)`, `self.m(..)`) is not \
             supported: use the struct's fields in this function",
        ));
    }
    let probes = emit_probes(user_item, &structs, receiver, probes);
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
            impl_scalar: impl_scalar.cloned(),
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

    // A `&mut S` that is not a view is integer scratch handed to kernels: a float in it
    // would be state the derivative cannot follow.
    for (r, sp) in structs.iter().enumerate() {
        if sp.mutable && !sp.view {
            if let Some(f) = fields.iter().find(|f| f.root == r) {
                return Err(syn::Error::new(
                    f.span,
                    format!(
                        "`{}` is a `&mut` struct holding floats: make it a view struct generic \
                         over its storage (`&mut S<&mut [f64]>`) so its fields are output \
                         buffers with adjoints, or pass the buffers as `&mut [f64]`",
                        sp.name
                    ),
                ));
            }
        }
    }
    // A view struct is only ever taken apart: it has no `zero_like` for a whole-struct
    // adjoint, and its type names floats, so it cannot pass through as an opaque value.
    for (r, sp) in structs.iter().enumerate() {
        if !sp.view {
            continue;
        }
        if whole_struct[r] || kept[r] {
            let span = inf
                .whole
                .iter()
                .find(|(w, _, _)| *w == r)
                .map(|(_, sp, _)| *sp)
                .or_else(|| {
                    inf.uses
                        .iter()
                        .find(|(k, _)| k.0 == r && !flat_keys.contains(k))
                        .and_then(|(_, u)| u.span)
                })
                .unwrap_or_else(|| sp.ty.span());
            return Err(syn::Error::new(
                span,
                format!(
                    "`{}` is a view struct (its storage is `&[float]`/`&mut [float]` slices): \
                     use each field as a float slice (`&{0}.w`, `{0}.w[i]`, `{0}.w.len()`); \
                     it cannot be handed on whole or hold fields read as constants",
                    sp.name
                ),
            ));
        }
        if sp.mutable {
            if let Some(f) = fields.iter().find(|f| f.root == r && !f.slice) {
                return Err(syn::Error::new(
                    f.span,
                    "the fields of a `&mut` view struct are output buffers: write them through \
                     kernels or index assignments (`&mut acts.h`, `acts.h[i] = ..`)",
                ));
            }
        }
    }

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
            let ty: syn::Type = if f.slice && s.mutable {
                syn::parse_quote!(&mut [#float_ty])
            } else if f.slice {
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
    if let Some(t) = impl_scalar {
        // Its own name: in the `impl` block, a method's `T` would shadow the block's.
        RenameIdent {
            from: t,
            to: format_ident!("__FgS"),
        }
        .visit_item_fn_mut(&mut flat);
    }

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
        impl_scalar: impl_scalar.cloned(),
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
