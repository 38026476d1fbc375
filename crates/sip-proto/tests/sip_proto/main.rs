//! Deterministic simulations of the transaction layer on a virtual clock.
//! No test sleeps: the simulator moves time.

mod transactions;
