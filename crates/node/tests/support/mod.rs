//! Helpers shared by the node's test binaries (`mod support;` in each).

pub mod raw_http;
