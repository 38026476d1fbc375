//! Carrier trunks (work in progress).
