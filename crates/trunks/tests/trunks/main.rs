//! The trunks crate on a virtual clock: a real switch-side `Endpoint`
//! talking to a scripted carrier (and, in `sim`, to a second `Endpoint`
//! over testkit's simulated network). No test sleeps.

mod cidr;
mod harness;
mod health;
mod limits;
mod numbers;
mod reconcile;
mod registration;
mod routes;
mod sim;

#[test]
fn fails_over_table() {
    use trunks::fails_over;
    // Carrier failures: try the next gateway.
    for code in [0, 408, 500, 502, 503, 504, 580, 599] {
        assert!(fails_over(code), "{code}");
    }
    // Answers about the callee (or our request): stop.
    for code in [200, 180, 300, 400, 401, 403, 404, 407, 480, 484, 486, 487, 488, 600, 603, 604, 606] {
        assert!(!fails_over(code), "{code}");
    }
}
