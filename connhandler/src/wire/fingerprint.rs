//! Fingerprints of wire shapes: FNV-1a, computed in const context.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Folds `s` into the fingerprint `h`.
///
/// # Examples
///
/// ```
/// use connhandler::wire::{fingerprint_mix, fingerprint_str};
/// const A: u64 = fingerprint_mix(fingerprint_str("a"), "b");
/// assert_ne!(A, fingerprint_str("ab0"));
/// ```
pub const fn fingerprint_mix(mut h: u64, s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    // A separator, so that ("ab", "c") and ("a", "bc") differ.
    h ^= 0xff;
    h.wrapping_mul(FNV_PRIME)
}

/// Folds another fingerprint into `h`.
///
/// # Examples
///
/// ```
/// use connhandler::wire::{fingerprint_combine, fingerprint_str, Wire};
/// const F: u64 = fingerprint_combine(fingerprint_str("pair"), <u8 as Wire>::FINGERPRINT);
/// ```
pub const fn fingerprint_combine(mut h: u64, other: u64) -> u64 {
    let mut i = 0;
    while i < 8 {
        h ^= (other >> (i * 8)) & 0xff;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// The fingerprint of a string.
///
/// # Examples
///
/// ```
/// use connhandler::wire::fingerprint_str;
/// const F: u64 = fingerprint_str("MyType:v1");
/// assert_eq!(F, fingerprint_str("MyType:v1"));
/// ```
pub const fn fingerprint_str(s: &str) -> u64 {
    fingerprint_mix(FNV_OFFSET, s)
}
