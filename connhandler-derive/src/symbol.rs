//! The names of the attributes and their keys.

pub(crate) const WIRE: &str = "wire";
pub(crate) const PEER: &str = "peer";

// Container keys of #[wire(...)].
pub(crate) const ID_TYPE: &str = "id_type";
pub(crate) const ENDIAN: &str = "endian";
pub(crate) const LEN: &str = "len";
pub(crate) const ID: &str = "id";
pub(crate) const JSON: &str = "json";
pub(crate) const CRATE: &str = "crate";
// Variant keys.
pub(crate) const CATCH_ALL: &str = "catch_all";
// Field keys.
pub(crate) const REST: &str = "rest";
pub(crate) const SKIP: &str = "skip";
pub(crate) const DEFAULT: &str = "default";
pub(crate) const WITH: &str = "with";
// #[peer(...)] keys.
pub(crate) const RECV: &str = "recv";
pub(crate) const SEND: &str = "send";
pub(crate) const NAME: &str = "name";

pub(crate) const CONTAINER_KEYS: &[&str] = &[ID_TYPE, ENDIAN, LEN, ID, JSON, CRATE];
pub(crate) const VARIANT_KEYS: &[&str] = &[ID, CATCH_ALL];
pub(crate) const FIELD_KEYS: &[&str] = &[ENDIAN, LEN, REST, SKIP, DEFAULT, WITH];
pub(crate) const PEER_KEYS: &[&str] = &[RECV, SEND, NAME, CRATE];

/// "`a`, `b` or `c`", for error messages that list the valid keys.
pub(crate) fn list(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
