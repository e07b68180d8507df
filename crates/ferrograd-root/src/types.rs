//! Element types and shapes of the supported branches, and how a branch's stored description
//! (leaf class, leaf title, TBranchElement class) maps onto them. One table per direction:
//! `ElemType` is the single list of numeric types that reader, writer and CLI share.

/// A numeric element type as stored on disk (big-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElemType {
    Bool,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl ElemType {
    pub const ALL: [ElemType; 11] = [
        ElemType::Bool,
        ElemType::I8,
        ElemType::U8,
        ElemType::I16,
        ElemType::U16,
        ElemType::I32,
        ElemType::U32,
        ElemType::I64,
        ElemType::U64,
        ElemType::F32,
        ElemType::F64,
    ];

    /// Bytes per element on disk.
    pub fn size(self) -> usize {
        match self {
            ElemType::Bool | ElemType::I8 | ElemType::U8 => 1,
            ElemType::I16 | ElemType::U16 => 2,
            ElemType::I32 | ElemType::U32 | ElemType::F32 => 4,
            ElemType::I64 | ElemType::U64 | ElemType::F64 => 8,
        }
    }

    /// ROOT's type name (`Float_t`).
    pub fn root_name(self) -> &'static str {
        match self {
            ElemType::Bool => "Bool_t",
            ElemType::I8 => "Char_t",
            ElemType::U8 => "UChar_t",
            ElemType::I16 => "Short_t",
            ElemType::U16 => "UShort_t",
            ElemType::I32 => "Int_t",
            ElemType::U32 => "UInt_t",
            ElemType::I64 => "Long64_t",
            ElemType::U64 => "ULong64_t",
            ElemType::F32 => "Float_t",
            ElemType::F64 => "Double_t",
        }
    }

    /// The letter of a leaf list (`x/F`).
    pub fn code(self) -> char {
        match self {
            ElemType::Bool => 'O',
            ElemType::I8 => 'B',
            ElemType::U8 => 'b',
            ElemType::I16 => 'S',
            ElemType::U16 => 's',
            ElemType::I32 => 'I',
            ElemType::U32 => 'i',
            ElemType::I64 => 'L',
            ElemType::U64 => 'l',
            ElemType::F32 => 'F',
            ElemType::F64 => 'D',
        }
    }

    /// The C++ name inside `std::vector<…>`.
    pub fn cpp_name(self) -> &'static str {
        match self {
            ElemType::Bool => "bool",
            ElemType::I8 => "char",
            ElemType::U8 => "unsigned char",
            ElemType::I16 => "short",
            ElemType::U16 => "unsigned short",
            ElemType::I32 => "int",
            ElemType::U32 => "unsigned int",
            ElemType::I64 => "Long64_t",
            ElemType::U64 => "ULong64_t",
            ElemType::F32 => "float",
            ElemType::F64 => "double",
        }
    }

    /// The ROOT leaf class that stores this type (`TLeafF`).
    pub fn leaf_class(self) -> &'static str {
        match self {
            ElemType::Bool => "TLeafO",
            ElemType::I8 | ElemType::U8 => "TLeafB",
            ElemType::I16 | ElemType::U16 => "TLeafS",
            ElemType::I32 | ElemType::U32 => "TLeafI",
            ElemType::I64 | ElemType::U64 => "TLeafL",
            ElemType::F32 => "TLeafF",
            ElemType::F64 => "TLeafD",
        }
    }

    pub fn is_unsigned(self) -> bool {
        matches!(
            self,
            ElemType::U8 | ElemType::U16 | ElemType::U32 | ElemType::U64
        )
    }

    /// From a leaf class and its unsigned flag; `None` for leaf classes outside the subset.
    pub(crate) fn from_leaf(class: &str, unsigned: bool) -> Option<ElemType> {
        let t = match (class, unsigned) {
            ("TLeafO", _) => ElemType::Bool,
            ("TLeafB", false) => ElemType::I8,
            ("TLeafB", true) => ElemType::U8,
            ("TLeafS", false) => ElemType::I16,
            ("TLeafS", true) => ElemType::U16,
            ("TLeafI", false) => ElemType::I32,
            ("TLeafI", true) => ElemType::U32,
            ("TLeafL" | "TLeafG", false) => ElemType::I64,
            ("TLeafL" | "TLeafG", true) => ElemType::U64,
            ("TLeafF", _) => ElemType::F32,
            ("TLeafD", _) => ElemType::F64,
            _ => return None,
        };
        Some(t)
    }

    /// From the element name of `vector<T>` / `ROOT::VecOps::RVec<T>` as ROOT spells it.
    pub(crate) fn from_cpp(name: &str) -> Option<ElemType> {
        let t = match name.trim() {
            "bool" | "Bool_t" => ElemType::Bool,
            "char" | "Char_t" | "signed char" | "int8_t" => ElemType::I8,
            "unsigned char" | "UChar_t" | "uint8_t" => ElemType::U8,
            "short" | "Short_t" | "int16_t" => ElemType::I16,
            "unsigned short" | "UShort_t" | "uint16_t" => ElemType::U16,
            "int" | "Int_t" | "int32_t" => ElemType::I32,
            "unsigned int" | "UInt_t" | "uint32_t" => ElemType::U32,
            "long" | "Long_t" | "Long64_t" | "long long" | "int64_t" => ElemType::I64,
            "unsigned long" | "ULong_t" | "ULong64_t" | "unsigned long long" | "uint64_t" => {
                ElemType::U64
            }
            "float" | "Float_t" => ElemType::F32,
            "double" | "Double_t" => ElemType::F64,
            _ => return None,
        };
        Some(t)
    }
}

/// How many elements an entry of a branch holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One element per entry.
    Scalar,
    /// A fixed number of elements per entry (`x[4]/F`, `x[2][3]/F` is 6).
    Fixed(usize),
    /// A per-entry count from another leaf (`x[n]/F`); `n` names it.
    Counted(String),
    /// `std::vector<T>` (or `ROOT::VecOps::RVec<T>`): each entry stored with a 10-byte header.
    Vector,
}

impl Shape {
    pub fn is_jagged(&self) -> bool {
        matches!(self, Shape::Counted(_) | Shape::Vector)
    }
}

/// The type of a readable branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchType {
    pub elem: ElemType,
    pub shape: Shape,
}

impl std::fmt::Display for BranchType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.elem.root_name();
        match &self.shape {
            Shape::Scalar => write!(f, "{t}"),
            Shape::Fixed(n) => write!(f, "{t}[{n}]"),
            Shape::Counted(n) => write!(f, "{t}[{n}]"),
            Shape::Vector => write!(f, "std::vector<{}>", self.elem.cpp_name()),
        }
    }
}

/// The element type inside `vector<T>` or `ROOT::VecOps::RVec<T>`, if the class is one.
pub(crate) fn vector_element(class: &str) -> Option<&str> {
    let c = class.trim();
    let inner = c
        .strip_prefix("std::vector<")
        .or_else(|| c.strip_prefix("vector<"))
        .or_else(|| c.strip_prefix("ROOT::VecOps::RVec<"))
        .or_else(|| c.strip_prefix("ROOT::RVec<"))?;
    inner.strip_suffix('>')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ElemType::ALL {
            assert_eq!(
                ElemType::from_leaf(t.leaf_class(), t.is_unsigned()),
                Some(t)
            );
            assert_eq!(ElemType::from_cpp(t.cpp_name()), Some(t));
        }
        assert_eq!(
            vector_element("vector<unsigned short>"),
            Some("unsigned short")
        );
        assert_eq!(vector_element("ROOT::VecOps::RVec<float>"), Some("float"));
        assert_eq!(
            vector_element("vector<vector<float> >"),
            Some("vector<float> ")
        );
        assert_eq!(vector_element("TLorentzVector"), None);
    }
}
