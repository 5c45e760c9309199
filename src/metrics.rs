//! This process's metrics block: Apache's children count embedded-mode
//! requests in a private block for now (the shared region comes with the
//! metrics endpoint).

/// child_init: where this child counts its requests.
pub fn child_init() {}
