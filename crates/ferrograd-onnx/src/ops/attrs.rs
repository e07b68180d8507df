//! Typed access to a node's attributes; a wrong type is an `Err`, never a panic.

use crate::proto::AttributeProto;
use crate::tensor::{Data, Tensor};

pub(crate) struct Attrs<'a>(pub &'a [AttributeProto]);

const FLOAT: i32 = 1;
const INT: i32 = 2;
const STRING: i32 = 3;
const TENSOR: i32 = 4;
const FLOATS: i32 = 6;
const INTS: i32 = 7;

impl Attrs<'_> {
    fn get(&self, name: &str) -> Option<&AttributeProto> {
        self.0.iter().find(|a| a.name == name)
    }

    fn typed(&self, name: &str, ty: i32, what: &str) -> Result<Option<&AttributeProto>, String> {
        match self.get(name) {
            None => Ok(None),
            // Type 0 (UNDEFINED) is what very old writers leave: trust the field.
            Some(a) if a.r#type == ty || a.r#type == 0 => Ok(Some(a)),
            Some(a) => Err(format!(
                "attribute `{name}` has type {}, {what} expected",
                a.r#type
            )),
        }
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64, String> {
        Ok(self.opt_int(name)?.unwrap_or(default))
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, String> {
        Ok(self.typed(name, INT, "int")?.map(|a| a.i))
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32, String> {
        Ok(self.typed(name, FLOAT, "float")?.map_or(default, |a| a.f))
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        Ok(self.typed(name, INTS, "ints")?.map(|a| a.ints.clone()))
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String, String> {
        match self.typed(name, STRING, "string")? {
            None => Ok(default.to_string()),
            Some(a) => String::from_utf8(a.s.clone())
                .map_err(|_| format!("attribute `{name}` is not UTF-8")),
        }
    }

    /// The value of a `Constant` node, from whichever of its attributes is set.
    pub fn constant_value(&self) -> Result<Tensor, String> {
        if let Some(a) = self.typed("value", TENSOR, "tensor")? {
            let t = a.t.as_ref().ok_or("attribute `value` holds no tensor")?;
            return Tensor::from_proto(t).map_err(|e| e.to_string());
        }
        if let Some(a) = self.typed("value_float", FLOAT, "float")? {
            return Ok(Tensor::from_parts(vec![], Data::F32(vec![a.f])));
        }
        if let Some(a) = self.typed("value_floats", FLOATS, "floats")? {
            return Ok(Tensor::from_parts(
                vec![a.floats.len()],
                Data::F32(a.floats.clone()),
            ));
        }
        if let Some(a) = self.typed("value_int", INT, "int")? {
            return Ok(Tensor::from_parts(vec![], Data::I64(vec![a.i])));
        }
        if let Some(a) = self.typed("value_ints", INTS, "ints")? {
            return Ok(Tensor::from_parts(
                vec![a.ints.len()],
                Data::I64(a.ints.clone()),
            ));
        }
        Err("a Constant needs `value`, `value_float(s)` or `value_int(s)` (sparse and string values are not supported)".into())
    }
}
