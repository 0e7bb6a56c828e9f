//! Writing structured fuzz inputs as the bytes `arbitrary` (1.x) reads them
//! back from, so seed corpora can be built from readable scenarios.
//!
//! The format, as `arbitrary` 1.5 and `derive_arbitrary` read it: integers
//! are little-endian; `bool` is a byte whose low bit is the value; `Option`
//! is a `bool` then the value; arrays and tuples are their elements in
//! order; a `Vec` is each element preceded by a `true` byte, then a `false`
//! byte; a derived enum is a `u32` `x` choosing variant `(x * count) >> 32`,
//! then the variant's fields; a derived struct is its fields in order.
//! Running out of data reads zeros, so a trailing `false` may be omitted.
//! The tests in `seeds.rs` decode every seed and compare it with the value
//! it was written from, so a mismatch with the real format cannot go
//! unnoticed.

/// A value that can be written in `arbitrary`'s input format.
pub trait Encode {
    /// Appends the bytes `arbitrary` reads `self` from.
    fn encode(&self, out: &mut Vec<u8>);
}

/// The bytes of `value`.
pub fn to_bytes<T: Encode>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// Writes the variant selector for variant `index` of an enum with `count`
/// variants: the smallest `x` with `(x * count) >> 32 == index`.
pub fn variant(index: u64, count: u64, out: &mut Vec<u8>) {
    assert!(index < count, "variant {index} of {count}");
    let x = (index << 32).div_ceil(count);
    out.extend_from_slice(&(x as u32).to_le_bytes());
}

macro_rules! encode_int {
    ($($ty:ty),*) => {$(
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
encode_int!(u8, u16, u32, u64);

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode(out);
            }
        }
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        for v in self {
            out.push(1);
            v.encode(out);
        }
        out.push(0);
    }
}

impl<T: Encode, const N: usize> Encode for [T; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        for v in self {
            v.encode(out);
        }
    }
}

impl<A: Encode, B: Encode> Encode for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
}

/// `Encode` for a derived enum: `encode_enum!(Type, count; Pattern => index,
/// [fields...]; ...)`, listing the fields each variant's derive reads, in
/// declaration order.
#[macro_export]
macro_rules! encode_enum {
    ($ty:ty, $count:expr; $($pat:pat => $index:expr, [$($field:expr),*]);* $(;)?) => {
        impl $crate::seed::Encode for $ty {
            #[allow(unused_variables)]
            fn encode(&self, out: &mut Vec<u8>) {
                match self {
                    $($pat => {
                        $crate::seed::variant($index, $count, out);
                        $($crate::seed::Encode::encode($field, out);)*
                    })*
                }
            }
        }
    };
}

/// `Encode` for a derived struct: `encode_struct!(Type; field, ...)`.
#[macro_export]
macro_rules! encode_struct {
    ($ty:ty; $($field:ident),* $(,)?) => {
        impl $crate::seed::Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                $($crate::seed::Encode::encode(&self.$field, out);)*
            }
        }
    };
}
