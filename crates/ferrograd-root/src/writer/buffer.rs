//! A big-endian output buffer with ROOT's object framing: byte counts patched in when an object
//! ends, and the back-reference map (classes and objects by position) that pointers use.

use std::collections::HashMap;

const BYTE_COUNT_MASK: u32 = 0x4000_0000;
const CLASS_MASK: u32 = 0x8000_0000;
const NEW_CLASS_TAG: u32 = 0xFFFF_FFFF;
const MAP_OFFSET: u32 = 2;

/// Bytes of one object being serialised. `origin` is the key length: ROOT counts positions for
/// back-references from the start of the key.
pub(crate) struct Buf {
    pub bytes: Vec<u8>,
    origin: u32,
    classes: HashMap<&'static str, u32>,
}

impl Buf {
    pub(crate) fn new(origin: usize) -> Self {
        Buf {
            bytes: Vec::new(),
            origin: origin as u32,
            classes: HashMap::new(),
        }
    }

    fn displacement(&self) -> u32 {
        self.origin + self.bytes.len() as u32
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    pub(crate) fn i16(&mut self, v: i16) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn f64(&mut self, v: f64) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn f32(&mut self, v: f32) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }

    /// A TString: one length byte, or 255 and a 4-byte length.
    pub(crate) fn string(&mut self, s: &str) {
        let b = s.as_bytes();
        if b.len() < 255 {
            self.u8(b.len() as u8);
        } else {
            self.u8(255);
            self.i32(b.len() as i32);
        }
        self.bytes.extend_from_slice(b);
    }

    /// Starts a versioned object: a byte-count placeholder and the class version. Returns the
    /// position to pass to [`end`](Self::end).
    pub(crate) fn begin(&mut self, version: i16) -> usize {
        let at = self.bytes.len();
        self.u32(0);
        self.i16(version);
        at
    }

    /// Patches the byte count of the object started at `at`.
    pub(crate) fn end(&mut self, at: usize) {
        let n = (self.bytes.len() - at - 4) as u32 | BYTE_COUNT_MASK;
        self.bytes[at..at + 4].copy_from_slice(&n.to_be_bytes());
    }

    /// TObject as ROOT writes it for objects on the heap (version 1, no byte count).
    pub(crate) fn tobject(&mut self) {
        self.i16(1);
        self.u32(0); // fUniqueID
        self.u32(0x0300_0000); // fBits: kNotDeleted | kIsOnHeap
    }

    pub(crate) fn tnamed(&mut self, name: &str, title: &str) {
        let at = self.begin(1);
        self.tobject();
        self.string(name);
        self.string(title);
        self.end(at);
    }

    /// Starts an object behind a pointer (`WriteObjectAny`): byte count, then the class, as a
    /// new class name the first time and as a back-reference after. Returns the object's key
    /// for later references and the position for [`end`](Self::end).
    pub(crate) fn begin_pointer(&mut self, class: &'static str) -> (u32, usize) {
        let key = self.displacement() + MAP_OFFSET;
        let at = self.bytes.len();
        self.u32(0);
        match self.classes.get(class) {
            Some(&c) => self.u32(c | CLASS_MASK),
            None => {
                let c = self.displacement() + MAP_OFFSET;
                self.classes.insert(class, c);
                self.u32(NEW_CLASS_TAG);
                self.bytes.extend_from_slice(class.as_bytes());
                self.u8(0);
            }
        }
        (key, at)
    }

    /// A pointer to an object written before in this buffer.
    pub(crate) fn reference(&mut self, key: u32) {
        self.u32(key);
    }

    /// A null pointer.
    pub(crate) fn null(&mut self) {
        self.u32(0);
    }
}
