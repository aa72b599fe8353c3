//! criterion benchmarks of DIDHub's indexed queries and connection pooling on every backend
//! (SPEC §5). The benchmarks arrive with the query-plans issue; this crate holds their place in
//! the workspace so that the layout is the one SPEC.md describes.
