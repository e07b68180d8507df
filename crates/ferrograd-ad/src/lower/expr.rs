//! Lowering of expressions: literals, variables, operators, indexing, float math methods,
//! tensor methods, calls and casts; value-producing `if`/`match`/blocks become temporaries.

use super::*;

impl Lower<'_> {
    pub(super) fn expr(&mut self, e: &syn::Expr, out: &mut Block) -> Option<Expr> {
        match e {
            syn::Expr::Lit(l) => match &l.lit {
                syn::Lit::Float(_) | syn::Lit::Int(_) | syn::Lit::Bool(_) => {
                    Some(Expr::Lit(l.lit.clone()))
                }
                other => {
                    self.cx
                        .error_spanned(other, "only numeric and bool literals are supported");
                    None
                }
            },
            syn::Expr::Path(p) => {
                if p.qself.is_some() {
                    self.cx
                        .error_spanned(p, "qualified paths are not supported");
                    return None;
                }
                if let Some(id) = p.path.get_ident() {
                    if let Some(v) = self.lookup(&id.to_string()) {
                        if let Ty::Closure(_) = self.vars[v].ty {
                            self.closure_escapes(p);
                            return None;
                        }
                        if let Ty::Tuple(_) = self.vars[v].ty {
                            self.cx.error_spanned(
                                p,
                                "a tuple can only be destructured (`let (a, b) = t`), copied (`let u = t`) or read by element (`t.0`): passing or returning it whole is not supported",
                            );
                            return None;
                        }
                        return Some(Expr::Var(v));
                    }
                    let s = id.to_string();
                    if s.chars()
                        .all(|c| c.is_uppercase() || c == '_' || c.is_ascii_digit())
                    {
                        return Some(Expr::Const(p.path.clone()));
                    }
                    self.cx.error_spanned(p, format!("unknown variable `{s}`"));
                    return None;
                }
                Some(Expr::Const(p.path.clone()))
            }
            syn::Expr::Paren(p) => self.expr(&p.expr, out),
            syn::Expr::Group(g) => self.expr(&g.expr, out),
            syn::Expr::Unary(u) => {
                let a = self.expr(&u.expr, out)?;
                match u.op {
                    syn::UnOp::Neg(_) => Some(Expr::Neg(Box::new(a))),
                    syn::UnOp::Not(_) => Some(Expr::Not(Box::new(a))),
                    syn::UnOp::Deref(_) => match a {
                        Expr::Var(_) | Expr::Index(..) => Some(a),
                        _ => {
                            self.cx.error_spanned(
                                u,
                                "dereference is only supported on loop variables (`*c`)",
                            );
                            None
                        }
                    },
                    _ => {
                        self.cx.error_spanned(u, "unsupported unary operator");
                        None
                    }
                }
            }
            syn::Expr::Binary(b) => {
                if compound_op(&b.op).is_some() {
                    self.cx.error_spanned(
                        b,
                        "compound assignment inside an expression is not supported",
                    );
                    return None;
                }
                let l = self.expr(&b.left, out);
                let r = self.expr(&b.right, out);
                Some(Expr::Binary(b.op, Box::new(l?), Box::new(r?)))
            }
            syn::Expr::Index(ix) => {
                let base = match strip_paren(&ix.expr) {
                    syn::Expr::Path(p) if p.path.get_ident().is_some() => {
                        let name = p.path.segments[0].ident.to_string();
                        self.lookup(&name)
                    }
                    _ => None,
                };
                let Some(b) = base else {
                    // Indexing into a pass-through value (`dims.conv[0]`) carries no derivative.
                    if let syn::Expr::Field(_) = strip_paren(&ix.expr) {
                        let inner = self.expr(&ix.expr, out)?;
                        if self.ty_of(&inner) == Ty::Unknown {
                            let i = self.expr(&ix.index, out)?;
                            return Some(Expr::IndexOf(Box::new(inner), Box::new(i)));
                        }
                    }
                    self.cx.error_spanned(&ix.expr, "only slice and array variables can be indexed (nested indexing `a[i][j]` is not supported: use `a[i * n + j]`)");
                    return None;
                };
                if let syn::Expr::Range(r) = strip_paren(&ix.index) {
                    self.cx.error_spanned(r, "sub-slices (`&x[a..b]`) are supported as arguments of calls only (`g(&x[a..b])`): pass the whole slice and an offset elsewhere");
                    return None;
                }
                let i = self.expr(&ix.index, out)?;
                Some(Expr::Index(b, Box::new(i)))
            }
            syn::Expr::MethodCall(m) => self.method(m, out),
            syn::Expr::Call(c) if self.closure_callee(&c.func).is_some() => {
                let k = self.closure_callee(&c.func)?;
                let t = self.fresh_tmp(Ty::Unknown);
                self.inline_closure(k, c, Sink::Place(Place::Var(t)), out)?;
                Some(Expr::Var(t))
            }
            syn::Expr::Call(c) => self.call(c, false, out),
            syn::Expr::Try(t) => match strip_paren(&t.expr) {
                syn::Expr::Call(c) => {
                    if !self.ret.is_result() {
                        self.cx.error_spanned(
                            t,
                            "`?` needs the differentiable function to return `Result`",
                        );
                    } else if self.closure_depth > 0 {
                        self.cx
                            .error_spanned(t, "`?` inside a closure is not supported");
                    }
                    self.call(c, true, out)
                }
                other => {
                    self.cx
                        .error_spanned(other, "`?` is only supported directly on a function call");
                    None
                }
            },
            syn::Expr::Cast(c) => {
                let a = self.expr(&c.expr, out)?;
                let t = if float_name(&c.ty).is_some() {
                    Ty::Float
                } else if is_int_ty(&c.ty) {
                    Ty::Int
                } else {
                    self.cx.error_spanned(
                        &c.ty,
                        "casts are supported to float and integer types only",
                    );
                    return None;
                };
                if t == Ty::Float && self.ty_of(&a) == Ty::Float {
                    // `x as f64` on a float: identity in practice (mixed precision is not supported).
                    return Some(a);
                }
                Some(Expr::Cast(Box::new(a), (*c.ty).clone(), t))
            }
            syn::Expr::Reference(r) => {
                // `&[1, 2][..]`: a shape or dimension list.
                if let syn::Expr::Index(ix) = strip_paren(&r.expr) {
                    if let (syn::Expr::Array(_), syn::Expr::Range(rg)) =
                        (strip_paren(&ix.expr), strip_paren(&ix.index))
                    {
                        if rg.start.is_none() && rg.end.is_none() && r.mutability.is_none() {
                            let a = self.expr(&ix.expr, out)?;
                            return Some(Expr::SliceOf(Box::new(a)));
                        }
                    }
                }
                let a = self.expr(&r.expr, out)?;
                Some(Expr::Ref(Box::new(a), r.mutability.is_some()))
            }
            syn::Expr::Array(a) => {
                let mut items = Vec::new();
                for it in &a.elems {
                    items.push(self.expr(it, out)?);
                }
                Some(Expr::Array(items))
            }
            syn::Expr::Repeat(r) => {
                let a = self.expr(&r.expr, out)?;
                Some(Expr::Repeat(Box::new(a), (*r.len).clone()))
            }
            syn::Expr::If(_) | syn::Expr::Match(_) | syn::Expr::Block(_) => {
                let t = self.fresh_tmp(Ty::Unknown);
                self.expr_into(e, Sink::Place(Place::Var(t)), out);
                Some(Expr::Var(t))
            }
            syn::Expr::Closure(c) => {
                self.cx.error_spanned(c, "a closure must be bound with `let` and called directly (`let f = |a: f64| a * y; f(x)`): passing or returning closures is not supported");
                None
            }
            syn::Expr::Unsafe(u) => {
                self.cx.error_spanned(u, "`unsafe` blocks are not supported in `#[differentiable]` functions: the AD compiler cannot see through them; move the unsafe code into a helper fn with a custom derivative (`g_pullback`/`g_pushforward`)");
                None
            }
            syn::Expr::Async(a) => {
                self.cx.error_spanned(
                    a,
                    "`async` blocks are not supported in `#[differentiable]` functions",
                );
                None
            }
            syn::Expr::Await(a) => {
                self.cx.error_spanned(
                    a,
                    "`.await` is not supported in `#[differentiable]` functions",
                );
                None
            }
            syn::Expr::Macro(m) => {
                self.cx.error_spanned(m, "macros are not supported inside a `#[differentiable]` function (their expansion is invisible to the AD compiler): remove it, or print from a non-differentiable caller");
                None
            }
            syn::Expr::Field(f) if self.tuple_element(f).is_some() => {
                self.tuple_field(f).flatten().map(Expr::Var)
            }
            syn::Expr::Field(f) => {
                // Fields of pass-through values (dimension structs) carry no derivative.
                let base = self.expr(&f.base, out)?;
                if !matches!(self.ty_of(&base), Ty::Unknown | Ty::Struct) {
                    self.cx.error_spanned(
                        f,
                        "struct fields and tuple fields are not supported on differentiable values: pass the values as parameters",
                    );
                    return None;
                }
                Some(Expr::Field(Box::new(base), f.member.clone()))
            }
            syn::Expr::Tuple(t) => {
                self.cx.error_spanned(
                    t,
                    "tuples are not supported in `#[differentiable]` functions",
                );
                None
            }
            syn::Expr::Range(r) => {
                self.cx
                    .error_spanned(r, "ranges are only supported as `for` loop iterators");
                None
            }
            syn::Expr::Assign(a) => {
                self.cx
                    .error_spanned(a, "assignment inside an expression is not supported");
                None
            }
            syn::Expr::Return(_) | syn::Expr::Break(_) | syn::Expr::Continue(_) => {
                self.cx.error_spanned(e, "`return`/`break`/`continue` inside an expression is not supported: use them as statements");
                None
            }
            other => {
                self.cx.error_spanned(
                    other,
                    format!(
                        "unsupported expression in a `#[differentiable]` function; {SUPPORTED}"
                    ),
                );
                None
            }
        }
    }

    fn method(&mut self, m: &syn::ExprMethodCall, out: &mut Block) -> Option<Expr> {
        if m.turbofish.is_some() {
            self.cx
                .error_spanned(m, "turbofish method calls are not supported");
            return None;
        }
        let recv = self.expr(&m.receiver, out)?;
        let mut args = Vec::new();
        for a in &m.args {
            args.push(self.expr(a, out)?);
        }
        let name = m.method.to_string();
        let rt = self.ty_of(&recv);
        if name == "len" && args.is_empty() {
            // Also the length of a pass-through value's field (`s.y.len()` where no float of
            // `s.y` is read): an integer, which carries no derivative whatever the elements are.
            let pass_through = matches!(recv, Expr::Field(..) | Expr::IndexOf(..));
            if !pass_through
                && !matches!(
                    rt,
                    Ty::FloatSlice | Ty::FloatSliceMut | Ty::FloatArray | Ty::IntSlice
                )
            {
                self.cx
                    .error_spanned(m, "`.len()` is supported on slices and arrays");
                return None;
            }
            return Some(Expr::Method(Box::new(recv), m.method.clone(), args));
        }
        if rt == Ty::Tensor {
            let ok = tensor_op(&name).is_some_and(|op| op.args.len() == args.len());
            if !ok {
                let list: Vec<String> = TENSOR_OPS
                    .iter()
                    .map(|op| format!("{}/{}", op.method, op.args.len()))
                    .collect();
                self.cx.error_spanned(
                    m,
                    format!(
                        "no derivative rule for the tensor method `.{name}()` with {} argument(s); rules exist for {} (name/arguments)",
                        args.len(),
                        list.join(", ")
                    ),
                );
                return None;
            }
            return Some(Expr::Method(Box::new(recv), m.method.clone(), args));
        }
        self.check_method(&m.method, rt, args.len(), m)?;
        Some(Expr::Method(Box::new(recv), m.method.clone(), args))
    }

    fn check_method<T: ToTokens>(
        &self,
        method: &syn::Ident,
        rt: Ty,
        nargs: usize,
        at: T,
    ) -> Option<()> {
        let name = method.to_string();
        let ok = match rt {
            Ty::Float => {
                (UNARY_METHODS.contains(&name.as_str()) && nargs == 0)
                    || (BINARY_METHODS.contains(&name.as_str()) && nargs == 1)
                    || (name == "powi" && nargs == 1)
                    || (name == "mul_add" && nargs == 2)
                    || (matches!(
                        name.as_str(),
                        "is_nan"
                            | "is_finite"
                            | "is_infinite"
                            | "is_sign_negative"
                            | "is_sign_positive"
                    ) && nargs == 0)
            }
            Ty::Int => matches!(
                name.as_str(),
                "min"
                    | "max"
                    | "abs"
                    | "pow"
                    | "rem_euclid"
                    | "div_euclid"
                    | "saturating_sub"
                    | "saturating_add"
                    | "wrapping_add"
                    | "wrapping_sub"
                    | "wrapping_mul"
                    | "signum"
                    | "is_power_of_two"
                    | "count_ones"
            ),
            _ => false,
        };
        if !ok {
            let what = match rt {
                Ty::Float => format!(
                    "no derivative rule for the float method `.{name}()` with {nargs} argument(s): write it with the methods that have rules ({}, {}, `powi`, `mul_add`) or in a helper fn with a custom derivative (`g_pullback`/`g_pushforward`)",
                    UNARY_METHODS.join(" "),
                    BINARY_METHODS.join(" ")
                ),
                Ty::Int => format!("the integer method `.{name}()` is not supported"),
                _ => format!(
                    "method `.{name}()` on a value of unknown type: the AD compiler only knows float math methods, `.len()` and a few integer helpers; annotate the variable (`let v: f64 = …`) or provide a `#[differentiable]` function"
                ),
            };
            self.cx.error_spanned(at, what);
            return None;
        }
        Some(())
    }

    fn call(&mut self, c: &syn::ExprCall, try_: bool, out: &mut Block) -> Option<Expr> {
        let path = match strip_paren(&c.func) {
            syn::Expr::Path(p) if p.qself.is_none() => p.path.clone(),
            other => {
                self.cx.error_spanned(
                    other,
                    "only calls of named functions are supported (no closures or function values)",
                );
                return None;
            }
        };
        let mut args = Vec::new();
        for a in &c.args {
            match self.sub_slice(a, out) {
                Some(s) => args.push(s?),
                None => args.push(self.expr(a, out)?),
            }
        }
        self.hoist_reads_of_written(&mut args, c.span(), out);
        // `f64::sin(x)`-style calls are float methods; `f64::from(i)` is a cast.
        if path.segments.len() == 2 {
            let first = path.segments[0].ident.to_string();
            if first == "f64" || first == "f32" {
                let m = path.segments[1].ident.clone();
                // `T::from_f64(c)`, `T::zero()`, `T::one()` in a generic function (`T` reads
                // `f64` here): constants, converted by the generic emitters.
                if m == "from_f64" && args.len() == 1 {
                    let a = args.pop()?;
                    if self.ty_of(&a) == Ty::Float {
                        return Some(a);
                    }
                    let ty: syn::Type = syn::parse_str(&first).ok()?;
                    return Some(Expr::Cast(Box::new(a), ty, Ty::Float));
                }
                if (m == "zero" || m == "one") && args.is_empty() {
                    let v = if m == "zero" { "0.0" } else { "1.0" };
                    return Some(Expr::Lit(syn::Lit::Float(syn::LitFloat::new(v, m.span()))));
                }
                if m == "from" && args.len() == 1 {
                    let ty: syn::Type = syn::parse_str(&first).ok()?;
                    let a = args.pop()?;
                    if self.ty_of(&a) == Ty::Float {
                        // `f64::from(x)` of a float: the identity, as `x as f64` is.
                        return Some(a);
                    }
                    return Some(Expr::Cast(Box::new(a), ty, Ty::Float));
                }
                if args.is_empty() {
                    self.cx.error_spanned(c, "unsupported float function");
                    return None;
                }
                let recv = args.remove(0);
                self.check_method(&m, Ty::Float, args.len(), c)?;
                return Some(Expr::Method(Box::new(recv), m, args));
            }
        }
        if path
            .segments
            .last()
            .map(|s| !s.arguments.is_none())
            .unwrap_or(false)
        {
            self.cx
                .error_spanned(&path, "calls with generic arguments are not supported");
            return None;
        }
        Some(Expr::Call {
            path,
            args,
            try_,
            span: c.span(),
        })
    }
}

impl Lower<'_> {
    /// In `g(a[1] * x, &mut a)` the value argument reads the buffer the call writes. Rust
    /// evaluates it before the call; the reverse sweep would pair its adjoint with `a` as the
    /// call left it. Binding such arguments to temporaries first makes the order explicit, so
    /// the emitters see `let t = a[1] * x; g(t, &mut a)`, which they differentiate exactly.
    fn hoist_reads_of_written(&mut self, args: &mut [Expr], span: Span, out: &mut Block) {
        let written: Vec<VarId> = args
            .iter()
            .filter_map(|a| match a {
                Expr::Ref(inner, true) => match **inner {
                    Expr::Var(v) => Some(v),
                    _ => None,
                },
                Expr::SubSlice {
                    var, mutable: true, ..
                } => Some(*var),
                Expr::Var(v) if self.vars[*v].ty == Ty::FloatSliceMut => Some(*v),
                _ => None,
            })
            .collect();
        if written.is_empty() {
            return;
        }
        for a in args.iter_mut() {
            if self.ty_of(a) != Ty::Float || matches!(a, Expr::Lit(_) | Expr::Const(_)) {
                continue;
            }
            let mut reads_written = false;
            Func::for_each_read(a, &mut |v| reads_written |= written.contains(&v));
            if !reads_written {
                continue;
            }
            let t = self.fresh_tmp(Ty::Float);
            let value = std::mem::replace(a, Expr::Var(t));
            out.push(Stmt::Assign {
                id: self.stmt_id(),
                target: Place::Var(t),
                value,
                decl: true,
                span,
            });
        }
    }

    /// `&x[a..b]` / `&mut x[a..b]` of a float buffer, as a call argument: `None` if `e` is not
    /// of that shape, `Some(None)` after an error.
    fn sub_slice(&mut self, e: &syn::Expr, out: &mut Block) -> Option<Option<Expr>> {
        let syn::Expr::Reference(r) = strip_paren(e) else {
            return None;
        };
        let syn::Expr::Index(ix) = strip_paren(&r.expr) else {
            return None;
        };
        let syn::Expr::Range(range) = strip_paren(&ix.index) else {
            return None;
        };
        let syn::Expr::Path(p) = strip_paren(&ix.expr) else {
            return None;
        };
        let var = self.lookup(&p.path.get_ident()?.to_string())?;
        if !self.vars[var].ty.is_float_buffer() {
            return None;
        }
        let mutable = r.mutability.is_some();
        if mutable && self.vars[var].ty == Ty::FloatSlice {
            self.cx
                .error_spanned(r, "`&mut` sub-slice of a read-only slice");
            return Some(None);
        }
        let mut bound = |b: &Option<Box<syn::Expr>>| -> Option<Option<Box<Expr>>> {
            match b {
                None => Some(None),
                Some(b) => self.expr(b, out).map(|e| Some(Box::new(e))),
            }
        };
        let (Some(lo), Some(mut hi)) = (bound(&range.start), bound(&range.end)) else {
            return Some(None);
        };
        if let (syn::RangeLimits::Closed(_), Some(h)) = (&range.limits, &hi) {
            // `a..=b` is `a..b + 1`.
            let one = Expr::Lit(syn::parse_quote!(1usize));
            hi = Some(Box::new(Expr::Binary(
                syn::parse_quote!(+),
                h.clone(),
                Box::new(one),
            )));
        }
        Some(Some(Expr::SubSlice {
            var,
            lo,
            hi,
            mutable,
        }))
    }
}
