//! Checking the signature: what a differentiable function may take and return.

use super::*;

impl Lower<'_> {
    pub(super) fn check_signature(&self, sig: &syn::Signature) {
        if let Some(t) = &sig.asyncness {
            self.cx
                .error_spanned(t, "`async fn` cannot be differentiable: write a plain `fn`");
        }
        if let Some(t) = &sig.unsafety {
            self.cx.error_spanned(
                t,
                "`unsafe fn` cannot be differentiable: the AD compiler only transforms safe code",
            );
        }
        if let Some(t) = &sig.constness {
            self.cx
                .error_spanned(t, "`const fn` cannot be differentiable: remove `const`");
        }
        if let Some(t) = &sig.abi {
            self.cx
                .error_spanned(t, "`extern` functions cannot be differentiable");
        }
        if let Some(v) = &sig.variadic {
            self.cx
                .error_spanned(v, "variadic functions cannot be differentiable");
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            self.cx.error_spanned(
                &sig.generics,
                "generic `#[differentiable]` functions are not supported: write the function for `f64` or `f32` \
                 (the generated code is generic through ferrograd's rule traits already)",
            );
        }
    }

    pub(super) fn params(&mut self, sig: &syn::Signature) -> Vec<Param> {
        let mut out = Vec::new();
        for input in &sig.inputs {
            let pt = match input {
                syn::FnArg::Receiver(r) => {
                    self.cx.error_spanned(
                        r,
                        "methods (`self`) are not supported: write a free function",
                    );
                    continue;
                }
                syn::FnArg::Typed(pt) => pt,
            };
            let (ident, mutable) = match &*pt.pat {
                syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    (pi.ident.clone(), pi.mutability.is_some())
                }
                other => {
                    self.cx.error_spanned(
                        other,
                        "parameters must be plain names (`x: f64`), not patterns",
                    );
                    continue;
                }
            };
            let kind = if pt
                .attrs
                .iter()
                .any(|a| a.path().is_ident(crate::structs::WHOLE_STRUCT))
            {
                Ty::Struct
            } else {
                self.param_kind(&pt.ty)
            };
            let v = self.new_var(&ident.to_string(), ident.span(), kind, false);
            self.vars[v].param = Some(out.len());
            self.bind(&ident.to_string(), v);
            out.push(Param {
                var: v,
                ident,
                mutable,
                ty: (*pt.ty).clone(),
                kind,
            });
        }
        out
    }

    pub(super) fn param_kind(&mut self, ty: &syn::Type) -> Ty {
        if let syn::Type::Reference(r) = ty {
            if r.mutability.is_none() && is_tensor_path(&r.elem) {
                self.tensor = true;
                return Ty::Tensor;
            }
        }
        if float_name(ty).is_some() {
            self.note_float(ty);
            return Ty::Float;
        }
        if is_int_ty(ty) {
            return Ty::Int;
        }
        if is_bool_ty(ty) {
            return Ty::Bool;
        }
        if let syn::Type::Reference(r) = ty {
            if let syn::Type::Slice(s) = &*r.elem {
                if float_name(&s.elem).is_some() {
                    self.note_float(&s.elem);
                    return if r.mutability.is_some() {
                        Ty::FloatSliceMut
                    } else {
                        Ty::FloatSlice
                    };
                }
                if is_int_ty(&s.elem) || is_bool_ty(&s.elem) {
                    return Ty::IntSlice;
                }
            }
        }
        // Other plain types (dimension structs, enums, …) pass through untouched: they carry no
        // derivative and can only be handed on to calls. Types holding floats are rejected, so a
        // derivative is never dropped silently.
        let opaque = match ty {
            syn::Type::Path(_) => true,
            // `&mut S` too: integer scratch a kernel writes (max-pool argmax).
            syn::Type::Reference(r) => matches!(&*r.elem, syn::Type::Path(_)),
            _ => false,
        };
        if opaque && !mentions_float(ty) {
            return Ty::Unknown;
        }
        if let syn::Type::Reference(r) = ty {
            if matches!(&*r.elem, syn::Type::TraitObject(_)) {
                self.cx.error_spanned(
                    ty,
                    "trait objects (`&dyn Trait`) cannot be differentiated: the AD compiler \
                     transforms the code it sees, and a trait object's methods are chosen at run \
                     time; take a struct (`p: &S` with `#[derive(ferrograd::Differentiable)]`) \
                     or make the function generic over `T: Real`",
                );
                return Ty::Unknown;
            }
        }
        self.cx.error_spanned(
            ty,
            "unsupported parameter type for `#[differentiable]`: use `f64`/`f32`, `&[f64]`, `&mut [f64]` (outputs), \
             integers, `bool`, integer slices, or `&S` for a struct with `#[derive(ferrograd::Differentiable)]`",
        );
        Ty::Unknown
    }

    pub(super) fn ret_kind(&mut self, sig: &syn::Signature) -> (RetKind, syn::ReturnType) {
        let ty = match &sig.output {
            syn::ReturnType::Default => return (RetKind::Unit, sig.output.clone()),
            syn::ReturnType::Type(_, ty) => ty,
        };
        if float_name(ty).is_some() {
            self.note_float(ty);
            return (RetKind::Float, sig.output.clone());
        }
        if is_tensor_path(ty) {
            return (RetKind::Tensor, sig.output.clone());
        }
        if let syn::Type::Tuple(t) = &**ty {
            if t.elems.is_empty() {
                return (RetKind::Unit, sig.output.clone());
            }
        }
        if let syn::Type::Reference(_) = &**ty {
            self.cx.error_spanned(ty, "returning references is not supported: return `f64`/`f32`, or write into a `&mut [f64]` parameter");
            return (RetKind::Unit, sig.output.clone());
        }
        if let syn::Type::Path(p) = &**ty {
            if let Some(last) = p.path.segments.last() {
                if last.ident == "Result" {
                    if let syn::PathArguments::AngleBracketed(a) = &last.arguments {
                        if let Some(syn::GenericArgument::Type(t)) = a.args.first() {
                            if float_name(t).is_some() {
                                self.note_float(t);
                                return (RetKind::ResultFloat, sig.output.clone());
                            }
                            if matches!(t, syn::Type::Tuple(tt) if tt.elems.is_empty()) {
                                return (RetKind::ResultUnit, sig.output.clone());
                            }
                        }
                    }
                }
            }
        }
        self.cx.error_spanned(
            ty,
            "unsupported return type for `#[differentiable]`: return `f64`/`f32`, `()`, or `Result` of those",
        );
        (RetKind::Unit, sig.output.clone())
    }
}
