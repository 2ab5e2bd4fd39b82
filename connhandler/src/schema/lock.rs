//! The breaking-change check: a protocol against the document committed as its lock.
