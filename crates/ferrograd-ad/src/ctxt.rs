//! Error collection: every check reports into one context so the user sees all problems at
//! once (serde_derive's `Ctxt`), each error spanned on the offending construct.

use std::cell::RefCell;
use std::fmt::Display;

#[derive(Default)]
pub struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    pub fn error_spanned<T: quote::ToTokens, M: Display>(&self, tokens: T, msg: M) {
        self.errors
            .borrow_mut()
            .push(syn::Error::new_spanned(tokens, msg));
    }

    pub fn error_at<M: Display>(&self, span: proc_macro2::Span, msg: M) {
        self.errors.borrow_mut().push(syn::Error::new(span, msg));
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.borrow().is_empty()
    }

    /// All errors combined into one, if any.
    pub fn take(&self) -> Option<syn::Error> {
        let mut errs = self
            .errors
            .borrow_mut()
            .drain(..)
            .collect::<Vec<_>>()
            .into_iter();
        let mut first = errs.next()?;
        for e in errs {
            first.combine(e);
        }
        Some(first)
    }
}
