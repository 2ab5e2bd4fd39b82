//! The examples of `connhandler`, in a package of their own so that building them builds
//! only what they use: run one with `cargo run --example NAME` from the workspace root.
//! Nothing is shared between them; each file is a program that reads top to bottom.
